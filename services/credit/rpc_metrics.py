"""The credit service's metrics: how far behind each feed it follows is (in memory)."""

from __future__ import annotations

from collections.abc import Sequence

from chassis.feed_follower import LAG_PROBE_SECONDS, FeedFollower
from chassis.metrics import FEED_LAG_EVENTS, FEED_LAG_SECONDS, PeriodicJobs, refresh_figures


def export_credit_metrics(service: PeriodicJobs, followers: Sequence[FeedFollower]) -> None:
    """Copy each follower's last lag probe (FeedFollower.lag) into the feed-lag gauges."""

    async def read() -> None:
        for follower in followers:
            FEED_LAG_EVENTS.labels(follower.feed.name).set(follower.lag.events_behind)
            FEED_LAG_SECONDS.labels(follower.feed.name).set(follower.lag.seconds_behind)

    refresh_figures(
        service, read, FEED_LAG_EVENTS, FEED_LAG_SECONDS, interval_seconds=LAG_PROBE_SECONDS
    )
