"""Local stand-ins for the product's peers, for development and tests.

Everything here runs on 127.0.0.1 with its files under the ignored var/
folder: a Podman service in place of a Docker Engine, distribution
registries with TLS, htpasswd or token auth, and a small token issuer.
Production never imports this package.
"""
