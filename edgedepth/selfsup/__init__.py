"""Self-supervised depth (the Monodepth2 objective): photometric terms, view synthesis and a pose network, used
only while training; the students they train are the ordinary mono students."""
