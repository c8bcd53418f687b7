"""Model loading: hub ids resolved to offline copies, loaded lazily once per process."""
