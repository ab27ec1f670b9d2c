"""The plan (pure): conformance matrix -> cases -> phases -> manifests."""
