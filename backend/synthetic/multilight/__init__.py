"""The multi-light engine: sets of photos of one object, each under its own directional light
(`batches.MultiLightBatches`), and the fixed validation set (`validation.validation_set`)."""
