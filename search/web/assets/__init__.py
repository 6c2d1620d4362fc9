"""HTML, CSS and JavaScript of the web page (package data, served by ``search.web.routes``)."""
