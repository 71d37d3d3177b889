"""Running shipped models on real photos: weight lookup, cropping, tiling, paste-back."""
