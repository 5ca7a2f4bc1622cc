"""What the commands run: `edgedepth/cli.py` parses a command line and hands it to one of these.

- `demo`: distill → export → measure → report on the embedded data, then `showcase` (the motorcycle through the
  run's bundle: a portrait, a depth map, a point cloud);
- `export`: bundles from a checkpoint (`edgedepth export`), a quantized bundle from a float one (`quantize`);
- `measure`: one pass over the checkpoint, its teacher and its bundles, giving the report (`verify`, `bench`);
- `label`: the teacher-output cache filled ahead of distillation;
- `profile`: LiteRT's own tools on an Android phone, through `adb`.

The other verbs run code that lives where it belongs: `distill` is `edgedepth.distill.train`, `predict` and
`portrait` are the device kit's (`runtime.predict_cli`), `report --merge` is a host tool's
(`runtime.host.report_merge`). Each stage reads the previous stage's files, so each also runs alone."""
