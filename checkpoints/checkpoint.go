package checkpoints

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Names inside a run folder.
const (
	DirName       = "checkpoints"           // <run>/checkpoints
	ModelFile     = "model.safetensors"     // parameters and buffers, by "<layer>.<param>"
	OptimizerFile = "optimizer.safetensors" // optimiser state by parameter name (see OptimizerShape)
	StateFile     = "state.json"            // State
	LatestFile    = "latest"                // holds the newest checkpoint's folder name
)

// ErrNoCheckpoint is wrapped by the errors of Latest and LoadLatestIntact when a run
// has no (intact) checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// tensorMetadata is the safetensors __metadata__ of both tensor files: "pt" tells
// PyTorch-side tools (transformers, safetensors.torch) that the layout is PyTorch's.
var tensorMetadata = map[string]string{"format": "pt"}

// Checkpoint is one checkpoint in memory.
type Checkpoint struct {
	Model     []Tensor // F32, "<layer>.<param>" (e.g. "upscore2.weight") and buffers ("bn1.running_mean")
	Optimizer []Tensor // F32 optimiser state: momenta named as their parameter, "<parameter>.<state>" for others
	State     State
	// Dir is the folder Load read the checkpoint from, so errors can name its files;
	// Save ignores it.
	Dir string
}

// Retention says which checkpoints Save keeps.
type Retention struct {
	// Keep is how many of the newest checkpoints to keep, the one being saved included;
	// 0 keeps them all.
	Keep int
	// BestMetric, if set, names a metric in State.Metrics (higher is better, e.g.
	// "val_miou"): the checkpoint with its highest value is kept too, whatever its age,
	// and State.Best records it. Ties go to the earlier step, the one measured first.
	BestMetric string
}

// StepName is the folder name of step's checkpoint: "step-" and the step, 7 digits or more.
func StepName(step int) string { return fmt.Sprintf("step-%07d", step) }

// parseStepName is StepName's inverse; it accepts only the exact form StepName writes.
func parseStepName(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "step-")
	if !ok || len(digits) < 7 || len(digits) > 18 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || StepName(n) != name {
		return 0, false
	}
	return n, true
}

// checkForSave refuses, before anything is written, a checkpoint that Load would refuse.
func checkForSave(ck *Checkpoint) error {
	if ck.State.Step < 0 {
		return fmt.Errorf("negative step %d", ck.State.Step)
	}
	for _, f := range []struct {
		file string
		ts   []Tensor
	}{{ModelFile, ck.Model}, {OptimizerFile, ck.Optimizer}} {
		if err := checkTensors(f.ts); err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		for _, t := range f.ts {
			if f.file == ModelFile && IsCounter(t.Name) {
				if t.Dtype() != I64 {
					return fmt.Errorf("%s: counter %q is %s; counters are I64", f.file, t.Name, t.Dtype())
				}
				continue
			}
			if t.Dtype() != F32 {
				return fmt.Errorf("%s: tensor %q is %s; checkpoints hold F32 (and I64 counters) only", f.file, t.Name, t.Dtype())
			}
		}
	}
	return checkOptimizer(ck.Model, ck.Optimizer, ModelFile, OptimizerFile)
}

// checkOptimizer checks that every momentum buffer belongs to a model tensor of its shape;
// errors name the files as given.
func checkOptimizer(model, opt []Tensor, modelFile, optFile string) error {
	shapes := make(map[string][]int, len(model))
	for _, t := range model {
		shapes[t.Name] = t.Shape
	}
	for _, t := range opt {
		s, ok := OptimizerShape(t.Name, t.Shape, shapes)
		if !ok {
			return fmt.Errorf("%s: tensor %q belongs to no tensor of %s", optFile, t.Name, modelFile)
		}
		if !equalShape(s, t.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %s but its parameter has %s", optFile, t.Name, formatShape(t.Shape), formatShape(s))
		}
	}
	return nil
}

// OptimizerShape is the shape an optimiser tensor called name must have, given the model
// tensors' shapes: a tensor named as a model tensor is its momentum (SGD), of its shape;
// one named "<model tensor>.<state>" is other per-parameter state (Adam's exp_avg and
// exp_avg_sq, of the parameter's shape, or its step count, a single value: shape [1],
// which is accepted when the tensor has it). ok is false when name belongs to no model
// tensor.
func OptimizerShape(name string, shape []int, model map[string][]int) (want []int, ok bool) {
	if s, ok := model[name]; ok {
		return s, true
	}
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return nil, false
	}
	s, ok := model[name[:i]]
	if !ok {
		return nil, false
	}
	if equalShape(shape, []int{1}) {
		return shape, true
	}
	return s, true
}

// Save writes ck as <runDir>/checkpoints/step-NNNNNNN/ and returns that folder's path.
//
// The write is atomic: the files go into a temporary folder .tmp-step-NNNNNNN-* beside the
// final one, each fsynced, then the folder is fsynced and renamed into place and the parent
// fsynced; a crash at any moment leaves the previous checkpoints intact and, at worst, a
// temporary folder, which readers ignore and the next Save removes. Then the "latest"
// pointer is replaced atomically. A checkpoint of the same step already there is replaced.
//
// Save fills in State.FormatVersion, State.Files and (with r.BestMetric) State.Best; it
// does not modify ck. The tensor files' bytes depend only on the tensors, so equal tensors
// give identical files. Finally it applies r: of the checkpoints at or before this step, it
// deletes all but the newest r.Keep and the best. Checkpoints after this step (from a run
// that was resumed from an earlier checkpoint) are left alone, and so is the rest of runDir.
//
// Save is not safe for concurrent use on one run folder.
func Save(runDir string, ck *Checkpoint, r Retention) (string, error) {
	return save(osDisk{}, runDir, ck, r)
}

// save is Save writing its files on d.
func save(d disk, runDir string, ck *Checkpoint, r Retention) (string, error) {
	if ck == nil {
		return "", errors.New("save checkpoint: nil checkpoint")
	}
	name := StepName(ck.State.Step)
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("save checkpoint %s in %s: %w", name, runDir, err)
	}
	if r.Keep < 0 {
		return fail(fmt.Errorf("negative retention keep %d", r.Keep))
	}
	if err := checkForSave(ck); err != nil {
		return fail(err)
	}
	dir := filepath.Join(runDir, DirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	if err := syncDir(runDir); err != nil {
		return fail(err)
	}
	ls, err := scan(dir)
	if err != nil {
		return fail(err)
	}
	// Leftovers of interrupted saves and deletions: never read, so safe to remove.
	for _, t := range ls.temps {
		if err := os.RemoveAll(filepath.Join(dir, t)); err != nil {
			return fail(fmt.Errorf("removing leftover %s: %w", t, err))
		}
	}

	st := ck.State
	st.FormatVersion = FormatVersion
	st.Best = nil
	if r.BestMetric != "" {
		st.Best = findBest(dir, ls.steps, st, r.BestMetric)
	}

	tmp, err := os.MkdirTemp(dir, tmpPrefix+name+"-")
	if err != nil {
		return fail(err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	st.Files = make(map[string]FileDigest, 2)
	for _, f := range []struct {
		file string
		ts   []Tensor
	}{{ModelFile, ck.Model}, {OptimizerFile, ck.Optimizer}} {
		dg, err := writeFileSync(d, filepath.Join(tmp, f.file), func(w io.Writer) error {
			return EncodeSafetensors(w, f.ts, tensorMetadata)
		})
		if err != nil {
			return fail(fmt.Errorf("writing %s: %w%s", f.file, err, fullDiskHint(err)))
		}
		st.Files[f.file] = FileDigest{SHA256: dg.sha256, Size: dg.size, Tensors: tensorNames(f.ts)}
	}
	sb, err := encodeState(&st)
	if err != nil {
		return fail(fmt.Errorf("encoding %s: %w", StateFile, err))
	}
	if _, err := writeFileSync(d, filepath.Join(tmp, StateFile), func(w io.Writer) error {
		_, err := w.Write(sb)
		return err
	}); err != nil {
		return fail(fmt.Errorf("writing %s: %w%s", StateFile, err, fullDiskHint(err)))
	}
	if err := syncDir(tmp); err != nil {
		return fail(err)
	}

	final := filepath.Join(dir, name)
	var old string
	if fi, err := os.Lstat(final); err == nil {
		if !fi.IsDir() {
			return fail(fmt.Errorf("%s exists and is not a folder", final))
		}
		// Move the old checkpoint aside under a temporary name; it is deleted once the
		// new one is in place.
		if old, err = freshName(dir, tmpPrefix+"old-"+name+"-"); err != nil {
			return fail(err)
		}
		if err := os.Rename(final, old); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fail(err)
		}
	}
	if _, err := writeFileAtomic(filepath.Join(dir, LatestFile), func(w io.Writer) error {
		_, err := io.WriteString(w, name+"\n")
		return err
	}); err != nil {
		return fail(fmt.Errorf("updating %s: %w", LatestFile, err))
	}
	if err := retain(dir, st.Step, r.Keep, st.Best); err != nil {
		return final, fmt.Errorf("saved %s, but applying retention failed: %w", final, err)
	}
	return final, nil
}

// findBest returns the best checkpoint by metric among the saved ones before st.Step
// (read from their state.json; unreadable ones are passed over) and st itself.
func findBest(dir string, steps []int, st State, metric string) *Best {
	var best *Best
	consider := func(step int, m Metrics) {
		v, ok := m[metric]
		if !ok || math.IsNaN(v) {
			return
		}
		if best == nil || v > best.Value || (v == best.Value && step < best.Step) {
			best = &Best{Metric: metric, Value: v, Step: step}
		}
	}
	for _, s := range steps {
		if s >= st.Step {
			continue
		}
		p := filepath.Join(dir, StepName(s), StateFile)
		b, err := readLimited(p, maxStateSize)
		if err != nil {
			continue
		}
		if old, err := ParseState(p, b); err == nil && old.Step == s {
			consider(s, old.Metrics)
		}
	}
	consider(st.Step, st.Metrics)
	return best
}

// retain deletes checkpoints at or before step, except the newest keep and the best.
// Each is first renamed to a temporary name, so that a crash mid-deletion leaves no
// half-deleted checkpoint that could be mistaken for a damaged one.
func retain(dir string, step, keep int, best *Best) error {
	if keep == 0 {
		return nil
	}
	ls, err := scan(dir)
	if err != nil {
		return err
	}
	kept := 0
	removed := false
	for _, s := range ls.steps { // newest first
		if s > step {
			continue
		}
		if kept < keep || (best != nil && s == best.Step) {
			if kept < keep {
				kept++
			}
			continue
		}
		doomed, err := freshName(dir, tmpPrefix+"del-"+StepName(s)+"-")
		if err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(dir, StepName(s)), doomed); err != nil {
			return err
		}
		removed = true
		if err := os.RemoveAll(doomed); err != nil {
			return err
		}
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}

// listing is what a checkpoints folder holds.
type listing struct {
	steps      []int    // step folders, newest first
	temps      []string // names starting with .tmp-: unfinished writes
	pointer    int      // the step "latest" names, when it names an existing step folder
	hasPointer bool
	pointerErr string // why "latest" was not usable, when it exists
}

// scan lists a checkpoints folder.
func scan(dir string) (*listing, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ls := &listing{}
	isStep := map[int]bool{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			ls.temps = append(ls.temps, name)
			continue
		}
		if s, ok := parseStepName(name); ok && e.IsDir() {
			ls.steps = append(ls.steps, s)
			isStep[s] = true
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ls.steps)))
	b, err := readLimited(filepath.Join(dir, LatestFile), 4096)
	switch {
	case errNotExist(err):
	case err != nil:
		ls.pointerErr = fmt.Sprintf("cannot read %s: %v", LatestFile, err)
	default:
		name := strings.TrimSpace(string(b))
		s, ok := parseStepName(name)
		switch {
		case !ok:
			ls.pointerErr = fmt.Sprintf("%s holds %.40q, not a checkpoint folder name", LatestFile, name)
		case !isStep[s]:
			ls.pointerErr = fmt.Sprintf("%s names %s, which does not exist", LatestFile, name)
		default:
			ls.pointer, ls.hasPointer = s, true
		}
	}
	return ls, nil
}

// readLimited reads a whole file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// Latest returns the path of runDir's newest checkpoint: the one the "latest" pointer
// names, or, if the pointer is missing or names no existing checkpoint, the highest step.
// It checks nothing inside the folder (Load does); temporary folders are never returned.
// With no checkpoint, the error wraps ErrNoCheckpoint.
func Latest(runDir string) (string, error) {
	dir := filepath.Join(runDir, DirName)
	ls, err := scan(dir)
	if errNotExist(err) {
		return "", fmt.Errorf("%w in %s: %s does not exist", ErrNoCheckpoint, runDir, dir)
	}
	if err != nil {
		return "", err
	}
	if ls.hasPointer {
		return filepath.Join(dir, StepName(ls.pointer)), nil
	}
	if len(ls.steps) == 0 {
		return "", fmt.Errorf("%w in %s", ErrNoCheckpoint, dir)
	}
	return filepath.Join(dir, StepName(ls.steps[0])), nil
}

// LoadLatestIntact loads the newest intact checkpoint of runDir. It tries the one the
// "latest" pointer names, then older ones, newest first, and returns the first that
// loads, its path, and warnings that say what was passed over and why: leftover
// temporary folders, an unusable pointer, checkpoints newer than the pointer's (from a
// run resumed from an earlier checkpoint, or a save cut off before it moved the
// pointer), and each damaged checkpoint with Load's error. With none intact the error
// wraps ErrNoCheckpoint and lists every refusal.
func LoadLatestIntact(runDir string) (*Checkpoint, string, []string, error) {
	dir := filepath.Join(runDir, DirName)
	ls, err := scan(dir)
	if errNotExist(err) {
		return nil, "", nil, fmt.Errorf("%w in %s: %s does not exist", ErrNoCheckpoint, runDir, dir)
	}
	if err != nil {
		return nil, "", nil, err
	}
	var warnings []string
	for _, t := range ls.temps {
		warnings = append(warnings, fmt.Sprintf("ignored %s: left by an interrupted save or deletion (the next save removes it)", filepath.Join(dir, t)))
	}
	if ls.pointerErr != "" {
		warnings = append(warnings, fmt.Sprintf("%s: %s; trying the highest step", dir, ls.pointerErr))
	}
	var order []int
	if ls.hasPointer {
		order = append(order, ls.pointer)
		for _, s := range ls.steps {
			switch {
			case s > ls.pointer:
				warnings = append(warnings, fmt.Sprintf("ignored %s: newer than %s, which %s names (left by a run resumed from an earlier checkpoint, or by a save cut off before it updated %s)",
					filepath.Join(dir, StepName(s)), StepName(ls.pointer), LatestFile, LatestFile))
			case s < ls.pointer:
				order = append(order, s)
			}
		}
	} else {
		order = ls.steps
	}
	var refusals []string
	for _, s := range order {
		p := filepath.Join(dir, StepName(s))
		ck, err := Load(p)
		if err == nil {
			return ck, p, warnings, nil
		}
		msg := fmt.Sprintf("refused %s: %v", p, err)
		warnings = append(warnings, msg)
		refusals = append(refusals, msg)
	}
	if len(refusals) == 0 {
		return nil, "", warnings, fmt.Errorf("%w in %s", ErrNoCheckpoint, dir)
	}
	return nil, "", warnings, fmt.Errorf("%w intact in %s: %s", ErrNoCheckpoint, dir, strings.Join(refusals, "; "))
}

// Load reads and verifies the checkpoint in folder dir. It returns a checkpoint only if
// everything checks out: state.json is valid, each tensor file has the size and SHA-256
// that state.json records, parses as safetensors, holds F32 tensors with exactly the
// recorded names, and every momentum buffer matches a model tensor. Otherwise it returns
// nil and an error naming the file and the problem; nothing is ever loaded halfway.
func Load(dir string) (*Checkpoint, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint %s: not a folder", dir)
	}
	statePath := filepath.Join(dir, StateFile)
	b, err := readLimited(statePath, maxStateSize)
	if errNotExist(err) {
		return nil, fmt.Errorf("%s: missing: not a complete checkpoint folder", statePath)
	}
	if err != nil {
		return nil, err
	}
	st, err := ParseState(statePath, b)
	if err != nil {
		return nil, err
	}
	if s, ok := parseStepName(filepath.Base(dir)); ok && s != st.Step {
		return nil, fmt.Errorf("%s: step %d does not match its folder %s", statePath, st.Step, filepath.Base(dir))
	}
	var files [2][]Tensor
	for i, name := range []string{ModelFile, OptimizerFile} {
		ts, err := readVerified(filepath.Join(dir, name), st.Files[name])
		if err != nil {
			return nil, err
		}
		files[i] = ts
	}
	if err := checkOptimizer(files[0], files[1], filepath.Join(dir, ModelFile), filepath.Join(dir, OptimizerFile)); err != nil {
		return nil, err
	}
	return &Checkpoint{Model: files[0], Optimizer: files[1], State: *st, Dir: dir}, nil
}

// readVerified reads one tensor file of a checkpoint and checks it against its digest.
func readVerified(path string, want FileDigest) ([]Tensor, error) {
	f, err := os.Open(path)
	if errNotExist(err) {
		return nil, fmt.Errorf("%s: missing (state.json lists it)", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch size := fi.Size(); {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file", path)
	case size < want.Size:
		return nil, fmt.Errorf("%s: truncated: %d bytes, state.json records %d", path, size, want.Size)
	case size > want.Size:
		return nil, fmt.Errorf("%s: %d bytes, state.json records %d: the file was changed", path, size, want.Size)
	}
	hr := &hashingReader{r: f, h: sha256.New()}
	file, err := decodeSafetensors(path, bufio.NewReaderSize(hr, 1<<20), fi.Size())
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(hr.h.Sum(nil)); got != want.SHA256 {
		return nil, fmt.Errorf("%s: SHA-256 %s does not match %s recorded in state.json: the file is damaged", path, got, want.SHA256)
	}
	for _, t := range file.Tensors {
		if IsCounter(t.Name) && t.Dtype() == I64 {
			continue
		}
		if t.Dtype() != F32 {
			return nil, fmt.Errorf("%s: tensor %q is %s; checkpoints hold F32 (and I64 counters) only", path, t.Name, t.Dtype())
		}
	}
	if missing, unexpected := diffNames(want.Tensors, tensorNames(file.Tensors)); len(missing)+len(unexpected) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "missing tensors "+strings.Join(missing, ", "))
		}
		if len(unexpected) > 0 {
			parts = append(parts, "tensors state.json does not list: "+strings.Join(unexpected, ", "))
		}
		return nil, fmt.Errorf("%s: %s", path, strings.Join(parts, "; "))
	}
	return file.Tensors, nil
}

// diffNames returns the names in want but not got, and in got but not want, sorted.
func diffNames(want, got []string) (missing, unexpected []string) {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	w, g := in(want), in(got)
	for s := range w {
		if !g[s] {
			missing = append(missing, s)
		}
	}
	for s := range g {
		if !w[s] {
			unexpected = append(unexpected, s)
		}
	}
	sort.Strings(missing)
	sort.Strings(unexpected)
	return missing, unexpected
}

// DiffExperiment returns, sorted, the keys whose values differ between the experiment a
// checkpoint recorded (State.Experiment) and the current one, including keys present in
// only one. The trainer decides which differences refuse a resume.
func DiffExperiment(saved, current map[string]string) []string {
	var keys []string
	for k, v := range saved {
		if cv, ok := current[k]; !ok || cv != v {
			keys = append(keys, k)
		}
	}
	for k := range current {
		if _, ok := saved[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// fullDiskHint says what a full disk means for the run: the checkpoint being written is
// dropped and the previous ones are untouched.
func fullDiskHint(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return " (the disk is full: this checkpoint was not written, the previous ones are intact; free space and resume)"
	}
	return ""
}
