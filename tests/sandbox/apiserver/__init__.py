"""Pure pieces of the sandbox cluster's API server: selectors, patches, defaulting and validation."""
