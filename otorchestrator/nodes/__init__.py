"""Zone execution nodes: the site's nodes (config.py), their set-up (bootstrap.py) and the backend that runs a
zone's share of a phase on its node over ansible-runner's streaming protocol (backend.py). docs/nodes.md."""
