package checkpoints

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
)

// FormatVersion is the version of the checkpoint layout this package writes and reads.
const FormatVersion = 1

// LoaderPosition is where the data loader resumes: the epoch and the index, within that
// epoch's order, of the next sample (or batch, as the trainer counts) to draw.
type LoaderPosition struct {
	Epoch int `json:"epoch"`
	Index int `json:"index"`
}

// Schedule is the learning-rate schedule's position: the step it has reached and the
// rate it gave there (informative; the step is what resumes it).
type Schedule struct {
	Step int     `json:"step"`
	LR   float64 `json:"lr"`
}

// FileDigest describes a tensor file of the checkpoint as Save wrote it.
type FileDigest struct {
	SHA256  string   `json:"sha256"`  // hex SHA-256 of the whole file
	Size    int64    `json:"size"`    // bytes
	Tensors []string `json:"tensors"` // names of the tensors it holds, sorted
}

// Best records the best checkpoint so far by a metric (higher is better).
type Best struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Step   int     `json:"step"`
}

// Metrics maps metric names to values. It is written to JSON with NaN and ±Inf as the
// strings "NaN", "+Inf" and "-Inf", which plain JSON numbers cannot express, so that a run
// that diverged can still be checkpointed.
type Metrics map[string]float64

// MarshalJSON writes finite values as numbers and non-finite ones as strings, keys sorted.
func (m Metrics) MarshalJSON() ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		switch v := m[k]; {
		case math.IsNaN(v):
			b.WriteString(`"NaN"`)
		case math.IsInf(v, 1):
			b.WriteString(`"+Inf"`)
		case math.IsInf(v, -1):
			b.WriteString(`"-Inf"`)
		default:
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(Metrics, len(raw))
	for k, v := range raw {
		var f float64
		if string(v) == "null" {
			return fmt.Errorf("metric %q is null", k)
		}
		if err := json.Unmarshal(v, &f); err == nil {
			out[k] = f
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("metric %q: want a number, got %s", k, v)
		}
		switch s {
		case "NaN":
			f = math.NaN()
		case "+Inf":
			f = math.Inf(1)
		case "-Inf":
			f = math.Inf(-1)
		default:
			return fmt.Errorf("metric %q: want a number, NaN, +Inf or -Inf, got %q", k, s)
		}
		out[k] = f
	}
	*m = out
	return nil
}

// State is state.json: everything besides tensors that a resumed run needs to continue
// exactly where the interrupted one stopped, and what Load needs to verify the tensor files.
type State struct {
	// FormatVersion and Files are filled in by Save; whatever the caller sets is ignored.
	FormatVersion int `json:"format_version"`
	// Step is the number of optimiser steps completed; it names the folder (step-NNNNNNN).
	Step int `json:"step"`
	// Epoch is the epoch the last completed step belongs to.
	Epoch int `json:"epoch"`
	// Loader is where the loader resumes.
	Loader LoaderPosition `json:"loader"`
	// RNG holds the trainer's generator states as opaque bytes (for example the output
	// of math/rand/v2's PCG.MarshalBinary), by name; JSON stores them in base64.
	RNG map[string][]byte `json:"rng,omitempty"`
	// Schedule is the learning-rate schedule's position.
	Schedule Schedule `json:"schedule"`
	// ExperimentDigest identifies the resolved experiment (the trainer computes it).
	ExperimentDigest string `json:"experiment_digest"`
	// Experiment optionally holds the resolved experiment's keys and values, so that a
	// resume with another experiment can name the keys that differ (see DiffExperiment).
	Experiment map[string]string `json:"experiment,omitempty"`
	// Metrics are the last metrics measured, e.g. {"train_loss": 0.41, "val_miou": 0.62}.
	Metrics Metrics `json:"metrics,omitempty"`
	// Best is the best checkpoint so far by Retention.BestMetric, this one included;
	// Save fills it in when a best metric is configured.
	Best *Best `json:"best,omitempty"`
	// Files describes model.safetensors and optimizer.safetensors.
	Files map[string]FileDigest `json:"files"`
}

// maxStateSize bounds state.json; a larger one is damaged, not big.
const maxStateSize = 64 << 20

// encodeState writes state.json: indented for people, with a final newline.
func encodeState(s *State) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseState decodes and checks a state.json; name is used in errors. Unknown fields are
// refused: this version does not know what they mean, so it cannot honour them.
func ParseState(name string, b []byte) (*State, error) {
	fail := func(format string, args ...any) (*State, error) {
		return nil, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(b) > maxStateSize {
		return fail("%d bytes is too large for a state file", len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s State
	if err := dec.Decode(&s); err != nil {
		return fail("not a valid state file: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail("trailing data after the JSON object")
	}
	switch {
	case s.FormatVersion == 0:
		return fail("no format_version")
	case s.FormatVersion > FormatVersion:
		return fail("format_version %d is newer than this fcn reads (%d): update fcn", s.FormatVersion, FormatVersion)
	case s.FormatVersion != FormatVersion:
		return fail("unknown format_version %d (this fcn reads %d)", s.FormatVersion, FormatVersion)
	case s.Step < 0:
		return fail("negative step %d", s.Step)
	}
	for _, f := range []string{ModelFile, OptimizerFile} {
		d, ok := s.Files[f]
		if !ok {
			return fail("files has no entry for %s", f)
		}
		if len(d.SHA256) != 64 {
			return fail("files[%s].sha256 %q is not a hex SHA-256", f, d.SHA256)
		}
		if d.Size < 8 {
			return fail("files[%s].size %d is too small for a safetensors file", f, d.Size)
		}
	}
	for f := range s.Files {
		if f != ModelFile && f != OptimizerFile {
			return fail("files names an unknown file %q", f)
		}
	}
	if s.Best != nil && s.Best.Metric == "" {
		return fail("best has no metric")
	}
	return &s, nil
}
