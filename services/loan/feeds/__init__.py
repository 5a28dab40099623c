"""The event feeds of other services that the loan service follows (chassis.feed_follower)."""
