"""The credit service's I/O around its feeds: upstream followers, event decoders, and the
intake that applies facts to people (and rescores them) in one transaction.

consumer.py follows an upstream StreamEvents; decoders.py turns upstream events into facts;
intake.py (the Bureau) applies facts, moves the blacklist and rescores, for the consumers and
for the servicer's mutations alike.
"""
