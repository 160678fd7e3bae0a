"""Webhooks through an HTTP proxy (webhook_proxy; municipal networks often allow the way out only
through one): every attempt goes through a CONNECT tunnel to the endpoint, TLS and the
endpoint's certificate still checked end to end; a proxy that is down is a failed attempt
that says so; without the key the daemon never uses a proxy, whatever the environment says."""

from harness.proxy import ConnectProxy
from harness.webhooks import AUTHORITIES, World, notify_config


def test_webhooks_go_through_the_configured_proxy(daemon_factory, receiver):
    proxy = ConnectProxy()
    try:
        rc = daemon_factory(config=notify_config(receiver.ca, webhook_proxy=proxy.url))
        world = World(rc, receiver)
        world.report(world.resident()["id"], known_departure=True)
        # Delivered means the endpoint answered, not the proxy's "200 Connection
        # established" (which a careless header callback would take for the verdict).
        reqs = receiver.wait_delivered(3)
        assert sorted(q.authority for q in reqs) == sorted(AUTHORITIES)
        assert len(proxy.targets) >= 3
        assert set(proxy.targets) == {f"localhost:{receiver.port}"}, proxy.targets
    finally:
        proxy.stop()


def test_a_proxy_that_is_down_is_a_failed_attempt(daemon_factory, receiver):
    proxy = ConnectProxy()
    dead = proxy.url
    proxy.stop()  # nobody listens there any more
    rc = daemon_factory(config=notify_config(receiver.ca, webhook_proxy=dead))
    world = World(rc, receiver)
    world.report(world.resident()["id"], known_departure=True)
    items = world.wait_notifications(
        lambda items: len(items) == 3 and all(i["attempts"] >= 1 for i in items), timeout=15)
    assert all("proxy" in (i["last_error"] or "").lower() or "connect" in (i["last_error"] or "")
               for i in items), items
    assert receiver.requests() == []


def test_the_environment_proxy_is_never_used(daemon_factory, receiver, monkeypatch):
    proxy = ConnectProxy()
    try:
        monkeypatch.setenv("https_proxy", proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("all_proxy", proxy.url)
        rc = daemon_factory(config=notify_config(receiver.ca))
        world = World(rc, receiver)
        world.report(world.resident()["id"], known_departure=True)
        receiver.wait_delivered(3)
        assert proxy.targets == []
    finally:
        proxy.stop()

