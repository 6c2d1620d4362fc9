"""alert: story updates -> alert rules -> webhook, email, the alerts topic.

    rules.py     the YAML rules file -> validated rule models (breaking, watch, velocity)
    query.py     the watch rules' saved-search language (the story search box's plain words)
    engine.py    pure core: Story update + per-story history -> alerts to send (once, with escalation)
    render.py    pure: an alert as Slack-compatible JSON and as an e-mail
    state.py     SQLite: the engine's memory and the outbox (decided -> delivered)
    channels.py  webhook (retries, backoff), SMTP, the alerts topic
    delivery.py  outbox -> channels; a failing channel never blocks the others
    service.py   stories topic -> engine -> state -> commit -> delivery
    cli.py       `storywire alert`, `storywire alerts check|test`

Errors are drawn in errors.py; metrics (storywire_alert_*) in metrics.py.
"""
