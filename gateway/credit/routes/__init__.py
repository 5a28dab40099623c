"""The credit line's REST routes: the owner's, the merchant's and the operators'."""
