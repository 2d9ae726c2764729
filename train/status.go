package train

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/fcn-dev/fcn/checkpoints"
)

// StatusFile is the run folder's status.json: what the run is doing now, for `fcn board`
// and scripts. It is replaced whole (temp file + rename) each time it changes.
const StatusFile = "status.json"

// Run states of status.json. A run killed by SIGKILL (or a power cut) stays "running":
// readers call it stale when Updated is old and PID is gone.
const (
	StateRunning     = "running"
	StateFinished    = "finished"
	StateFailed      = "failed"
	StateInterrupted = "interrupted"
)

// Status is the content of status.json.
type Status struct {
	State           string    `json:"state"`
	Experiment      string    `json:"experiment"`
	Step            int       `json:"step"`  // updates done
	Total           int       `json:"total"` // train.steps
	ETASeconds      *float64  `json:"eta_seconds"`
	ImagesPerSecond *float64  `json:"images_per_second"`
	Started         time.Time `json:"started"` // this session's start
	Updated         time.Time `json:"updated"`
	PID             int       `json:"pid"`
	Error           string    `json:"error,omitempty"` // why it failed
}

// ReadStatus reads a run folder's status.json.
func ReadStatus(runDir string) (*Status, error) {
	b, err := os.ReadFile(filepath.Join(runDir, StatusFile))
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, StatusFile), err)
	}
	return &s, nil
}

// statusWriter keeps status.json up to date, writing it at most once a second while
// steps go by and at once on every state change and evaluation.
type statusWriter struct {
	path    string
	st      Status
	written time.Time
	every   time.Duration
	now     func() time.Time
}

func newStatusWriter(runDir, experiment string, step, total int, now func() time.Time) *statusWriter {
	t := now()
	return &statusWriter{
		path:  filepath.Join(runDir, StatusFile),
		st:    Status{State: StateRunning, Experiment: experiment, Step: step, Total: total, Started: t, PID: os.Getpid()},
		every: time.Second,
		now:   now,
	}
}

// write replaces status.json.
func (s *statusWriter) write() error {
	s.st.Updated = s.now()
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return err
	}
	if err := checkpoints.WriteFileAtomic(s.path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("writing %s: %w", StatusFile, err)
	}
	s.written = s.st.Updated
	return nil
}

// progress records step done at rate images a second with eta left, writing the file if
// a second has passed since it was last written (or force).
func (s *statusWriter) progress(step int, rate float64, eta time.Duration, force bool) error {
	s.st.Step = step
	if rate > 0 && !math.IsInf(rate, 0) {
		r, e := rate, eta.Seconds()
		s.st.ImagesPerSecond, s.st.ETASeconds = &r, &e
	}
	if !force && s.now().Sub(s.written) < s.every {
		return nil
	}
	return s.write()
}

// end records the final state (and the error of a failed run) and writes the file.
func (s *statusWriter) end(state string, step int, err error) error {
	s.st.State, s.st.Step = state, step
	if state == StateFinished {
		zero := 0.0
		s.st.ETASeconds = &zero
	} else {
		s.st.ETASeconds = nil
	}
	if err != nil {
		s.st.Error = err.Error()
	}
	return s.write()
}
