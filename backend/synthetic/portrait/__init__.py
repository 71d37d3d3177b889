"""The portrait engine: one photo of a person's head and shoulders, with its normals, shading,
albedo and mask (`batches.PortraitBatches`), and the fixed validation set
(`validation.validation_set`)."""
