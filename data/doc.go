// Package data feeds segmentation examples to fcn: datasets (the PASCAL VOC layout,
// image/mask folders, procedural synthetic scenes), augmentation transforms, and a
// deterministic parallel Loader.
//
// Conventions. An image is RGB, planar C×H×W float32 with values in [0, 255]; a label is
// H×W int32 whose values are class ids in [0, classes) or the ignore label (255 by
// default, VOC's border value). Normalisation happens in the loader's transforms.
//
// Determinism. Nothing here keeps a random stream that advances: the shuffle of epoch e is
// derived from (seed, e), the random transforms of a sample from (seed, epoch, index), and
// a synthetic scene from (seed, split, index). So batches are bit-identical whatever the
// number of workers, and a loader restarted at a saved Position sees exactly the batches
// an uninterrupted one would have seen; the position is the only state to save.
package data
