// Package checkpoints saves and loads training checkpoints and reads and writes the
// safetensors format.
//
// A checkpoint is a folder <run>/checkpoints/step-NNNNNNN/ holding
//
//	model.safetensors      every parameter and buffer, F32, named "<layer>.<param>"
//	                       (e.g. upscore2.weight, bn1.running_mean), in PyTorch's layout
//	optimizer.safetensors  momentum buffers, named as their parameter
//	state.json             State: format version, step, epoch, loader position, RNG
//	                       states, schedule position, experiment digest, last metrics,
//	                       best checkpoint, and the size, SHA-256 and tensor names of
//	                       each tensor file
//
// and <run>/checkpoints/latest holds the newest folder's name. Save writes atomically
// (temporary folder, fsync, rename, fsync) and applies retention (Retention); Load
// verifies everything and returns all or nothing; LoadLatestIntact falls back past
// damaged checkpoints and says why; Validate checks a checkpoint against the model;
// LoadWeights and MatchWeights serve --init-from.
//
// A trainer uses it so:
//
//	path, err := checkpoints.Save(runDir, &checkpoints.Checkpoint{
//		Model: params, Optimizer: momenta, State: checkpoints.State{Step: step, ...},
//	}, checkpoints.Retention{Keep: cfg.Keep, BestMetric: "val_miou"})
//
//	ck, path, warnings, err := checkpoints.LoadLatestIntact(runDir) // --resume
//	err = checkpoints.Validate(ck, modelShapes)                      // then copy ck.Model
//
//	ts, src, err := checkpoints.LoadWeights(initFrom)                 // --init-from
//	rep, err := checkpoints.MatchWeights(ts, modelShapes, checkpoints.Strict)
//
// # Safetensors
//
// The reader and writer are written here, not taken from a library: the format is an
// 8-byte little-endian header length, a JSON header and a flat byte buffer, and writing
// it ourselves lets the reader check every rule and name the file in every error. The
// header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)}
// (offsets into the buffer after the header), plus an optional "__metadata__" of strings.
// The reader refuses, without panicking: a header length past the end of the file or over
// 100 MB, a header that is not a JSON object or names a tensor twice, unknown or
// unsupported dtypes (it reads F32 and F64), shapes whose size differs from their offsets'
// span, holes, overlaps, and bytes after the last tensor. The writer pads the header with
// spaces to a multiple of 8 bytes and lays tensors out sorted by name (wider dtypes
// first), as the official writer does, so equal tensors give byte-identical files.
//
// # Reading weights outside fcn
//
// scripts/read_safetensors.py reads a model.safetensors with only json, struct and numpy
// and prints, per tensor, its name, dtype, shape, sum and u32sum (the sum of its bytes as
// little-endian uint32 words, mod 2³², which Checksum computes in Go):
//
//	/usr/bin/python3 scripts/read_safetensors.py runs/x/checkpoints/step-0001000/model.safetensors
//
// numpy comes with Debian's python3-numpy (apt-get install python3-numpy; use the system
// /usr/bin/python3 if another python3 comes first on PATH). The file's
// read_safetensors(path) returns (metadata, {name: numpy array}) for use in other scripts.
// TestPythonReader runs the script on a file written by Save and compares its output with
// the Go values, where python3 with numpy is installed (it is skipped elsewhere).
package checkpoints
