package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
)

// Names inside a run folder, besides checkpoints/ (checkpoints.DirName).
const (
	ConfigFile  = "config.yaml"       // the resolved experiment
	MetricsFile = "metrics.jsonl"     // one JSON object a line: train and eval lines
	ModelFile   = "model.safetensors" // the final model
)

// TrainLine is a train line of metrics.jsonl: the update's step (1-based: the number of
// updates done), its loss (averaged over iter_size batches) and learning rate.
type TrainLine struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
	LR   float64 `json:"lr"`
}

// EvalLine is an evaluation line of metrics.jsonl: the step evaluated after, the split,
// FCN's metrics (miou, pixel_acc, mean_acc, fwiou, iou per class; NaN as null) and the
// mean loss over the split.
type EvalLine struct {
	Step  int    `json:"step"`
	Split string `json:"split"`
	Metrics
	Loss nullFloat `json:"loss"`
}

// MarshalJSON flattens the metrics into the line: {"step":..,"split":"val","miou":..}.
func (l EvalLine) MarshalJSON() ([]byte, error) {
	m, err := json.Marshal(l.Metrics)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(struct {
		Step  int       `json:"step"`
		Split string    `json:"split"`
		Loss  nullFloat `json:"loss"`
	}{l.Step, l.Split, l.Loss})
	if err != nil {
		return nil, err
	}
	// {"step":1,"split":"val","loss":x} + {"pixel_acc":...} → one object.
	return append(append(head[:len(head)-1:len(head)-1], ','), m[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *EvalLine) UnmarshalJSON(b []byte) error {
	var head struct {
		Step  int       `json:"step"`
		Split string    `json:"split"`
		Loss  nullFloat `json:"loss"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	var m Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*l = EvalLine{Step: head.Step, Split: head.Split, Metrics: m, Loss: head.Loss}
	return nil
}

// metricsLog appends lines to a run's metrics.jsonl.
type metricsLog struct {
	f *os.File
}

func openMetricsLog(runDir string) (*metricsLog, error) {
	f, err := os.OpenFile(filepath.Join(runDir, MetricsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &metricsLog{f: f}, nil
}

// write appends one line in a single write, so that a kill leaves at worst one partial
// last line, which a resume drops.
func (m *metricsLog) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = m.f.Write(append(b, '\n'))
	return err
}

func (m *metricsLog) Close() error { return m.f.Close() }

// trimMetricsLog rewrites metrics.jsonl for a run resumed after step: lines of later
// steps (written after the checkpoint by the interrupted run), an evaluation line of
// step itself unless keepEvalAt, and a partial last line are dropped, so the log reads as
// that of an uninterrupted run. The rewrite is atomic.
func trimMetricsLog(runDir string, step int, keepEvalAt bool) error {
	path := filepath.Join(runDir, MetricsFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var head struct {
			Step  *int   `json:"step"`
			Split string `json:"split"`
		}
		if json.Unmarshal(line, &head) != nil || head.Step == nil {
			continue // a line cut short by a kill
		}
		if *head.Step > step || (*head.Step == step && head.Split != "" && !keepEvalAt) {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return checkpoints.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(out.Bytes())
		return err
	})
}

// ReadEvalLines returns the evaluation lines of a metrics.jsonl, in order.
func ReadEvalLines(path string) ([]EvalLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []EvalLine
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		if !strings.Contains(line, `"split"`) {
			continue
		}
		var l EvalLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			if i == len(lines)-1 {
				break // a last line without its newline: cut short by a kill, or still being written
			}
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// TornLastLine reports whether b (a metrics.jsonl) ends in a line without its newline,
// which readers skip: metrics.jsonl is appended a whole line at a time, so only a kill
// or a line being written leaves one.
func TornLastLine(b []byte) bool { return len(b) > 0 && b[len(b)-1] != '\n' }

// RunDirOf returns the run folder that holds path: path itself when it holds
// config.yaml, else the nearest parent that does (a checkpoint folder's run, or the
// folder of a run's model.safetensors); "" if none.
func RunDirOf(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	for range 4 {
		if fi, err := os.Stat(filepath.Join(p, ConfigFile)); err == nil && !fi.IsDir() {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	return ""
}

// loadWeightsFile reads model tensors from path: a safetensors file, a checkpoint folder,
// or a run folder (its final model.safetensors when the run finished, else its latest
// checkpoint). It returns the file or folder read.
func loadWeightsFile(path string) ([]checkpoints.Tensor, string, error) {
	final := filepath.Join(path, ModelFile)
	if fi, err := os.Stat(final); err == nil && !fi.IsDir() {
		if _, err := os.Stat(filepath.Join(path, checkpoints.StateFile)); err != nil {
			f, err := checkpoints.ReadSafetensors(final)
			if err != nil {
				return nil, "", err
			}
			return f.Tensors, final, nil
		}
	}
	return checkpoints.LoadWeights(path)
}
