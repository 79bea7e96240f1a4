"""Train and compare a self-attention and a multi-head attention text classifier."""
