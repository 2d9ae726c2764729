package board

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Names the board reads in a run folder (as package train writes them) and in a
// `fcn compare` report folder (as package study does). The board does not import them:
// it is a reader of folders, which may come from another fcn version or machine.
const (
	metricsFile   = "metrics.jsonl"
	statusFile    = "status.json"
	configFile    = "config.yaml"
	modelFile     = "model.safetensors"
	evalsDir      = "evals"
	confusionFile = "confusion.json"
	overlaysFile  = "overlays.json"
	reportFile    = "report.md"
	reportCSV     = "metrics.csv"

	maxDepth    = 6               // folders below the runs folder searched for runs
	rescanEvery = 2 * time.Second // the folder tree is walked again at most this often
	staleAfter  = 10 * time.Second
	maxText     = 1 << 20 // config.yaml and report.md are shown up to this size
)

// RunInfo is a run (or report) folder in the runs list.
type RunInfo struct {
	Name       string   `json:"name"` // path relative to the runs folder
	Kind       string   `json:"kind"` // "run" or "study"
	Experiment string   `json:"experiment,omitempty"`
	State      string   `json:"state"` // running, finished, failed, interrupted, stale, unknown
	Step       int      `json:"step"`
	Total      int      `json:"total"`
	ETASeconds *float64 `json:"eta_seconds"`
	ImagesPerS *float64 `json:"images_per_second"`
	Updated    string   `json:"updated,omitempty"`
	Error      string   `json:"error,omitempty"`
	MIoU       *float64 `json:"miou"` // the last evaluation's
	Evals      int      `json:"evals"`
}

// status is status.json as train writes it.
type status struct {
	State      string    `json:"state"`
	Experiment string    `json:"experiment"`
	Step       int       `json:"step"`
	Total      int       `json:"total"`
	ETASeconds *float64  `json:"eta_seconds"`
	ImagesPerS *float64  `json:"images_per_second"`
	Updated    time.Time `json:"updated"`
	PID        int       `json:"pid"`
	Error      string    `json:"error"`
}

// Metrics is a run's metrics.jsonl as columns, for the charts (NaN and missing as null).
type Metrics struct {
	TrainStep []int      `json:"train_step"`
	Loss      []*float64 `json:"loss"`
	LR        []*float64 `json:"lr"`
	EvalStep  []int      `json:"eval_step"`
	MIoU      []*float64 `json:"miou"`
	PixelAcc  []*float64 `json:"pixel_acc"`
	MeanAcc   []*float64 `json:"mean_acc"`
	EvalLoss  []*float64 `json:"eval_loss"`
}

// metricsEntry caches a parsed metrics.jsonl: the lines up to end (the end of its last
// whole line), and the bytes just before end, to tell an append from a rewrite.
type metricsEntry struct {
	m    Metrics
	end  int64
	tail []byte
	mod  time.Time
	size int64
}

// statusEntry caches a parsed status.json by modification time and size.
type statusEntry struct {
	st   *status
	mod  time.Time
	size int64
}

type cache struct {
	mu      sync.Mutex
	scanned time.Time
	runs    []string // run folders
	studies []string // report folders
	metrics map[string]*metricsEntry
	status  map[string]*statusEntry
	// replies of /api/run by run, and of /api/runs, with the fingerprint of the files
	// they were made from: an idle poll costs a few stats.
	replies map[string]cachedReply
	list    cachedReply
}

type cachedReply struct {
	fp  string
	rep reply
}

func newCache() *cache {
	return &cache{metrics: map[string]*metricsEntry{}, status: map[string]*statusEntry{}, replies: map[string]cachedReply{}}
}

// scan finds the run and report folders, walking the tree at most every rescanEvery.
// Folders named checkpoints or evals, hidden ones and symlinks are not entered.
func (s *Server) scan() (runs, studies []string) {
	c := s.cache
	if now := s.now(); now.Sub(c.scanned) >= rescanEvery || c.scanned.IsZero() {
		c.runs, c.studies = nil, nil
		fs.WalkDir(s.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil // unreadable or deleted while walked: skip
			}
			name := d.Name()
			if p != "." && (strings.HasPrefix(name, ".") || name == "checkpoints" || name == evalsDir) {
				return fs.SkipDir
			}
			if strings.Count(p, "/") >= maxDepth {
				return fs.SkipDir
			}
			if s.exists(path.Join(p, metricsFile)) || s.exists(path.Join(p, statusFile)) {
				c.runs = append(c.runs, p)
			} else if s.exists(path.Join(p, reportFile)) {
				c.studies = append(c.studies, p)
			}
			return nil
		})
		c.scanned = now
		// Drop cache entries of folders gone.
		keep := map[string]bool{}
		for _, r := range c.runs {
			keep[r] = true
		}
		for k := range c.metrics {
			if !keep[k] {
				delete(c.metrics, k)
			}
		}
		for k := range c.status {
			if !keep[k] {
				delete(c.status, k)
			}
		}
		for k := range c.replies {
			if !keep[k] {
				delete(c.replies, k)
			}
		}
	}
	return c.runs, c.studies
}

func (s *Server) exists(p string) bool {
	_, err := fs.Stat(s.fsys, p)
	return err == nil
}

// readStatus returns a run's status.json, parsed again only when it changed.
func (s *Server) readStatus(run string) *status {
	p := path.Join(run, statusFile)
	fi, err := fs.Stat(s.fsys, p)
	if err != nil {
		delete(s.cache.status, run)
		return nil
	}
	if e := s.cache.status[run]; e != nil && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.st
	}
	b, err := fs.ReadFile(s.fsys, p)
	if err != nil {
		return nil
	}
	var st status
	if json.Unmarshal(b, &st) != nil {
		return nil // replaced whole by rename, so this is not a torn write: just bad
	}
	s.cache.status[run] = &statusEntry{st: &st, mod: fi.ModTime(), size: fi.Size()}
	return &st
}

// readMetrics returns a run's metrics, reading only what was appended since the last
// call. A torn last line (no newline yet) is left for the next call.
func (s *Server) readMetrics(run string) Metrics {
	p := path.Join(run, metricsFile)
	fi, err := fs.Stat(s.fsys, p)
	if err != nil {
		delete(s.cache.metrics, run)
		return Metrics{}
	}
	e := s.cache.metrics[run]
	if e != nil && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.m
	}
	f, err := s.fsys.Open(p)
	if err != nil {
		return Metrics{}
	}
	defer f.Close()
	if e != nil && fi.Size() >= e.end && len(e.tail) > 0 {
		// An append keeps the bytes before the old end.
		if ra, ok := f.(io.ReaderAt); ok {
			buf := make([]byte, len(e.tail))
			if _, err := ra.ReadAt(buf, e.end-int64(len(buf))); err != nil || !bytes.Equal(buf, e.tail) {
				e = nil
			}
		} else {
			e = nil
		}
	} else {
		e = nil
	}
	if e == nil {
		e = &metricsEntry{}
	}
	var rest []byte
	if sk, ok := f.(io.Seeker); ok {
		if _, err := sk.Seek(e.end, io.SeekStart); err != nil {
			return e.m
		}
		rest, err = io.ReadAll(f)
	} else {
		e = &metricsEntry{}
		rest, err = io.ReadAll(f)
	}
	if err != nil {
		return e.m
	}
	whole := bytes.LastIndexByte(rest, '\n') + 1
	for _, line := range bytes.Split(rest[:whole], []byte{'\n'}) {
		e.m.add(line)
	}
	e.end += int64(whole)
	if whole > 0 {
		e.tail = append([]byte(nil), rest[max(0, whole-64):whole]...)
	}
	e.mod, e.size = fi.ModTime(), fi.Size()
	s.cache.metrics[run] = e
	return e.m
}

// add parses one metrics.jsonl line; lines that do not parse are skipped.
func (m *Metrics) add(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	var l struct {
		Step     *int     `json:"step"`
		Split    string   `json:"split"`
		Loss     *float64 `json:"loss"`
		LR       *float64 `json:"lr"`
		MIoU     *float64 `json:"miou"`
		PixelAcc *float64 `json:"pixel_acc"`
		MeanAcc  *float64 `json:"mean_acc"`
	}
	if json.Unmarshal(line, &l) != nil || l.Step == nil {
		return
	}
	if l.Split == "" {
		m.TrainStep = append(m.TrainStep, *l.Step)
		m.Loss = append(m.Loss, finite(l.Loss))
		m.LR = append(m.LR, finite(l.LR))
		return
	}
	m.EvalStep = append(m.EvalStep, *l.Step)
	m.MIoU = append(m.MIoU, finite(l.MIoU))
	m.PixelAcc = append(m.PixelAcc, finite(l.PixelAcc))
	m.MeanAcc = append(m.MeanAcc, finite(l.MeanAcc))
	m.EvalLoss = append(m.EvalLoss, finite(l.Loss))
}

func finite(p *float64) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	return p
}

// evalSteps lists a run's complete evaluation folders (evals/step-NNNNNNN), by step.
func (s *Server) evalSteps(run string) []int {
	entries, err := fs.ReadDir(s.fsys, path.Join(run, evalsDir))
	if err != nil {
		return nil
	}
	var steps []int
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "step-")
		if !ok || !e.IsDir() {
			continue
		}
		if k, err := strconv.Atoi(n); err == nil && k >= 0 {
			steps = append(steps, k)
		}
	}
	sort.Ints(steps)
	return steps
}

// info describes a run for the list.
func (s *Server) info(run string) RunInfo {
	ri := RunInfo{Name: run, Kind: "run", State: "unknown"}
	m := s.readMetrics(run)
	if st := s.readStatus(run); st != nil {
		ri.Experiment, ri.State, ri.Step, ri.Total = st.Experiment, st.State, st.Step, st.Total
		ri.ETASeconds, ri.ImagesPerS, ri.Error = st.ETASeconds, st.ImagesPerS, st.Error
		ri.Updated = st.Updated.Format(time.RFC3339)
		if st.State == "running" && s.now().Sub(st.Updated) > staleAfter && !alive(st.PID) {
			ri.State = "stale"
		}
	} else {
		if n := len(m.TrainStep); n > 0 {
			ri.Step = m.TrainStep[n-1]
		}
		if s.exists(path.Join(run, modelFile)) {
			ri.State = "finished"
		}
	}
	if n := len(m.MIoU); n > 0 {
		ri.MIoU = m.MIoU[n-1]
	}
	ri.Evals = len(s.evalSteps(run))
	return ri
}

// fingerprint sums up what a run's answers are made from: the size and time of its
// files and of its evals folder (which changes when an evaluation is renamed into it).
// Stale detection depends on the clock too, so a running run's fingerprint carries the
// time in staleAfter units.
func (s *Server) fingerprint(run string) string {
	var b strings.Builder
	for _, f := range []string{metricsFile, statusFile, configFile, modelFile, evalsDir} {
		if fi, err := fs.Stat(s.fsys, path.Join(run, f)); err == nil {
			b.WriteString(strconv.FormatInt(fi.Size(), 36))
			b.WriteByte(':')
			b.WriteString(strconv.FormatInt(fi.ModTime().UnixNano(), 36))
		}
		b.WriteByte(';')
	}
	if st := s.cache.status[run]; st != nil && st.st.State == "running" {
		b.WriteString(strconv.FormatInt(s.now().Unix()/int64(staleAfter/time.Second), 36))
	}
	return b.String()
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	runs, studies := s.scan()
	var fp strings.Builder
	for _, run := range runs {
		fp.WriteString(run)
		fp.WriteByte('=')
		fp.WriteString(s.fingerprint(run))
		fp.WriteByte('\n')
	}
	for _, st := range studies {
		fp.WriteString(st)
		fp.WriteByte('\n')
	}
	if c := s.cache.list; c.fp == fp.String() && c.rep.etag != "" {
		writeReply(w, r, c.rep)
		return
	}
	list := make([]RunInfo, 0, len(runs)+len(studies))
	for _, run := range runs {
		list = append(list, s.info(run))
	}
	for _, st := range studies {
		list = append(list, RunInfo{Name: st, Kind: "study", State: "report"})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	rep, err := newReply(map[string]any{"runs": list})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.cache.list = cachedReply{fp: fp.String(), rep: rep}
	writeReply(w, r, rep)
}

// runParam is the run folder a request names (?run=NAME), checked.
func (s *Server) runParam(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	run, ok := relPath(r.URL.Query().Get(key))
	if !ok {
		http.Error(w, "bad "+key+" path", http.StatusBadRequest)
		return "", false
	}
	return run, true
}

func (s *Server) readText(p string) string {
	f, err := s.fsys.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxText))
	return string(b)
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runParam(w, r, "run")
	if !ok {
		return
	}
	if !s.exists(path.Join(run, metricsFile)) && !s.exists(path.Join(run, statusFile)) {
		http.Error(w, "no run folder "+run, http.StatusNotFound)
		return
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	fp := s.fingerprint(run)
	if c, ok := s.cache.replies[run]; ok && c.fp == fp {
		writeReply(w, r, c.rep)
		return
	}
	rep, err := newReply(map[string]any{
		"info": s.info(run), "metrics": s.readMetrics(run), "evals": s.evalSteps(run), "config": s.readText(path.Join(run, configFile)),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.cache.replies[run] = cachedReply{fp: fp, rep: rep}
	writeReply(w, r, rep)
}

// apiEval answers an evaluation of a run: its confusion.json and overlays (?step=N, or
// the latest).
func (s *Server) apiEval(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runParam(w, r, "run")
	if !ok {
		return
	}
	steps := s.evalSteps(run)
	if len(steps) == 0 {
		http.Error(w, "no evaluations in "+run, http.StatusNotFound)
		return
	}
	step := steps[len(steps)-1]
	if q := r.URL.Query().Get("step"); q != "" {
		k, err := strconv.Atoi(q)
		if err != nil || sort.SearchInts(steps, k) == len(steps) || steps[sort.SearchInts(steps, k)] != k {
			http.Error(w, "no evaluation at step "+q, http.StatusNotFound)
			return
		}
		step = k
	}
	dir := path.Join(run, evalsDir, "step-"+pad7(step))
	var confusion json.RawMessage
	if b, err := fs.ReadFile(s.fsys, path.Join(dir, confusionFile)); err == nil && json.Valid(b) {
		confusion = b
	}
	type overlay struct {
		File string `json:"file"`
		ID   string `json:"id"`
		URL  string `json:"url"`
	}
	var overlays []overlay
	if b, err := fs.ReadFile(s.fsys, path.Join(dir, overlaysFile)); err == nil {
		json.Unmarshal(b, &overlays)
	}
	out := overlays[:0]
	for _, o := range overlays {
		if fs.ValidPath(o.File) && !strings.Contains(o.File, "/") {
			o.URL = "/files/" + path.Join(dir, o.File)
			out = append(out, o)
		}
	}
	writeJSON(w, r, map[string]any{"step": step, "steps": steps, "confusion": confusion, "overlays": out})
}

func pad7(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 7 {
		s = "0" + s
	}
	return s
}

// apiStudy answers a `fcn compare` report folder: report.md, metrics.csv as rows, and its
// pictures.
func (s *Server) apiStudy(w http.ResponseWriter, r *http.Request) {
	dir, ok := s.runParam(w, r, "dir")
	if !ok {
		return
	}
	if !s.exists(path.Join(dir, reportFile)) {
		http.Error(w, "no report in "+dir, http.StatusNotFound)
		return
	}
	var rows [][]string
	if f, err := s.fsys.Open(path.Join(dir, reportCSV)); err == nil {
		rows, _ = csv.NewReader(io.LimitReader(f, maxText)).ReadAll()
		f.Close()
	}
	var images []string
	if entries, err := fs.ReadDir(s.fsys, dir); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".png") && e.Type().IsRegular() {
				images = append(images, "/files/"+path.Join(dir, e.Name()))
			}
		}
	}
	writeJSON(w, r, map[string]any{"report": s.readText(path.Join(dir, reportFile)), "csv": rows, "images": images})
}
