"""Privacy by design: the consent ledger, erasure with certificates, subject export."""
