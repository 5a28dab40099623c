"""The insurance routes: products, quotes and policies (``policies``), claims (``claims``),
the operators' review, evidence and job (``admin``)."""
