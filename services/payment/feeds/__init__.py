"""The event feeds of other services that the payment service follows (chassis.feed_follower)."""
