"""alert: story updates -> alert rules -> webhook, email, the alerts topic."""
