"""The web page and HTTP API (`saurus serve`); needs the 'web' extra."""
