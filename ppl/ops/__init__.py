"""Pure tensor helpers shared by every layer of ppl (no state, no handlers)."""
