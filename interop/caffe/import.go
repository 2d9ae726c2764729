package caffe

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
	"gorgonia.org/tensor"
)

// Imported is what Import makes of a Caffe net: the experiment, the weights in fcn's
// names when a caffemodel was given, and notes on what was mapped approximately or
// dropped (to print).
type Imported struct {
	Experiment *configs.Experiment
	Weights    []checkpoints.Tensor
	Notes      []string
	// InputHW is the Input layer's height and width, 0 when the net has none.
	InputHW [2]int
}

// Files names Import's inputs; Weights and Solver may be empty.
type Files struct {
	Net, Weights, Solver string
}

// ImportFiles reads the files and imports them.
func ImportFiles(f Files) (*Imported, error) {
	net, err := ReadNetText(f.Net)
	if err != nil {
		return nil, err
	}
	var solver *caffepb.SolverParameter
	if f.Solver != "" {
		b, err := readFile(f.Solver)
		if err != nil {
			return nil, err
		}
		if solver, err = ParseSolverText(f.Solver, b); err != nil {
			return nil, err
		}
	}
	var model *caffepb.NetParameter
	if f.Weights != "" {
		if model, err = ReadModel(f.Weights); err != nil {
			return nil, err
		}
	}
	return Import(f, net, solver, model)
}

// layerFields are the LayerParameter fields every mapping shares; any other set field
// (besides the mapping's parameter message) is refused by name.
var layerFields = []string{"name", "type", "bottom", "top", "param", "blobs", "include", "exclude", "phase"}

// importer carries one import's state.
type importer struct {
	path     string
	notes    []string
	producer map[string]string // Caffe blob → the fcn layer (or input) that last wrote it
	// grouped are the mappings' notes, each with the layers it applies to, in order of
	// first appearance: one line for FCN's 16 layers without a weight_filler.
	grouped  []string
	layersOf map[string][]string
}

func (im *importer) layerNote(layer, note string) {
	if im.layersOf == nil {
		im.layersOf = map[string][]string{}
	}
	if _, ok := im.layersOf[note]; !ok {
		im.grouped = append(im.grouped, note)
	}
	im.layersOf[note] = append(im.layersOf[note], layer)
}

// allNotes are the grouped mapping notes, then the others.
func (im *importer) allNotes() []string {
	var ns []string
	for _, n := range im.grouped {
		ls := im.layersOf[n]
		what := "layer " + ls[0]
		if len(ls) > 1 {
			what = "layers " + strings.Join(ls, ", ")
		}
		ns = append(ns, what+": "+n)
	}
	return append(ns, im.notes...)
}

func (im *importer) notef(format string, args ...any) {
	im.notes = append(im.notes, fmt.Sprintf(format, args...))
}

func (im *importer) errf(l *caffepb.LayerParameter, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", im.path, where(l), fmt.Sprintf(format, args...))
}

// Import makes an experiment of a parsed net (f names the files in messages), with the
// solver's optimiser and schedule when given, and weights from model when given.
func Import(f Files, net *caffepb.NetParameter, solver *caffepb.SolverParameter, model *caffepb.NetParameter) (*Imported, error) {
	im := &importer{path: f.Net, producer: map[string]string{}}
	exp := configs.Default()
	exp.Name = net.GetName()
	if exp.Name == "" {
		exp.Name = strings.TrimSuffix(filepath.Base(f.Net), filepath.Ext(f.Net))
	}
	exp.Train.BatchSize = 1
	ls, err := netLayers(f.Net, net)
	if err != nil {
		return nil, err
	}
	if len(net.GetInput()) > 0 {
		return nil, fmt.Errorf("%s: net-level input/input_dim: give an Input layer instead", f.Net)
	}
	res := &Imported{Experiment: &exp}
	lossType, _ := layers.Lookup(layers.LossType)
	scores := ""
	var dataSeen bool
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		if skip, why := phaseSkipped(l); skip {
			im.notef("%s: %s", where(l), why)
			continue
		}
		if l.GetName() == "" {
			return nil, fmt.Errorf("%s: layer %d (%s): has no name", f.Net, i, l.GetType())
		}
		switch typ := l.GetType(); typ {
		case "Input", "Python":
			if dataSeen {
				return nil, im.errf(l, "a second data layer; fcn nets have one image input")
			}
			dataSeen = true
			if len(l.GetTop()) == 0 {
				return nil, im.errf(l, "has no top")
			}
			im.producer[l.GetTop()[0]] = train.InputData
			for _, t := range l.GetTop()[1:] {
				im.producer[t] = train.InputLabel
			}
			if typ == "Input" {
				hw, batch, err := inputShape(l)
				if err != nil {
					return nil, im.errf(l, "%v", err)
				}
				res.InputHW, exp.Train.BatchSize = hw, batch
				im.notef("%s: input %d×3×%d×%d; set the dataset section (data.format, data.root) yourself", where(l), batch, hw[0], hw[1])
			} else {
				p := l.GetPythonParam()
				im.notef("%s: Python data layer %s.%s(%s) is not imported: set the dataset section (data.format, data.root) yourself; batch 1",
					where(l), p.GetModule(), p.GetLayer(), p.GetParamStr())
				if mean, ok := pythonMean(p.GetParamStr()); ok {
					exp.Data.Transforms.BGRMean = mean
				}
			}
			// A Caffe net sees what Caffe's data layers give it: BGR on the 0–255 scale
			// minus a mean, no augmentation (FCN's layers only shuffle); its weights
			// expect that.
			tr := &exp.Data.Transforms
			tr.Normalize, tr.Flip, tr.Crop, tr.ScaleMin, tr.ScaleMax = data.NormCaffe, false, 0, 1, 1
			im.notef("%s: inputs as Caffe's data layers give them: normalize caffe (BGR, 0–255, minus bgr_mean %v), no flip, crop or rescale", where(l), tr.BGRMean)
		case "Accuracy", "Silence":
			im.notef("%s: dropped (fcn evaluates with `fcn eval`)", where(l))
		case lossType.Caffe:
			if scores != "" {
				return nil, im.errf(l, "a second loss")
			}
			if len(l.GetBottom()) != 2 {
				return nil, im.errf(l, "needs bottoms scores and label, has %d", len(l.GetBottom()))
			}
			p, ok := im.producer[l.GetBottom()[0]]
			if !ok {
				return nil, im.errf(l, "bottom %q: no layer before it makes it", l.GetBottom()[0])
			}
			scores = p
			if err := im.loss(l, &exp); err != nil {
				return nil, err
			}
		default:
			spec, absorbed, err := im.layer(l, ls[i+1:])
			if err != nil {
				return nil, err
			}
			i += absorbed
			exp.Model.Layers = append(exp.Model.Layers, spec)
		}
	}
	if len(exp.Model.Layers) == 0 {
		return nil, fmt.Errorf("%s: no layers fcn can build", f.Net)
	}
	if !dataSeen {
		return nil, fmt.Errorf("%s: no Input or Python data layer (fcn needs the image input)", f.Net)
	}
	last := exp.Model.Layers[len(exp.Model.Layers)-1].Name
	switch {
	case scores == "":
		im.notef("%s: no SoftmaxWithLoss: the loss section keeps fcn's defaults", f.Net)
	case scores != last:
		return nil, fmt.Errorf("%s: the loss reads %s, but the last layer is %s (fcn's scores are the last layer's output)", f.Net, scores, last)
	}
	if err := setClasses(&exp); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Net, err)
	}
	if err := im.multipliers(ls, &exp); err != nil {
		return nil, err
	}
	if solver != nil {
		if err := importSolver(f.Solver, solver, &exp, im); err != nil {
			return nil, err
		}
	}
	// The dataset is not in a Caffe net: VOC for FCN's 21 classes, else a folder
	// dataset of that many classes; data.root is left for the user (see the notes).
	if exp.Model.Classes == 21 {
		exp.Data.Format = data.FormatVOC
	} else {
		exp.Data.Format, exp.Data.NumClasses = data.FormatFolder, exp.Model.Classes
	}
	im.notef("data: format %s with data.root unset: --set data.root=DIR (or edit experiment.yaml)", exp.Data.Format)
	checked, err := checkExperiment(f.Net, &exp)
	if err != nil {
		return nil, err
	}
	res.Experiment = checked
	if model != nil {
		if res.Weights, err = im.weights(f.Weights, model, checked, res.InputHW); err != nil {
			return nil, err
		}
	}
	res.Notes = im.allNotes()
	return res, nil
}

// checkExperiment loads exp as fcn would, written and read back, without requiring a
// data.root (as `fcn summary` loads).
func checkExperiment(source string, exp *configs.Experiment) (*configs.Experiment, error) {
	dir, err := os.MkdirTemp("", "fcn-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "experiment.yaml")
	if err := exp.WriteYAML(p); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	checked, err := configs.LoadModel(p, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: the imported experiment: %w", source, err)
	}
	checked.Source = source
	return checked, nil
}

// phaseSkipped says whether a layer is only in the TEST phase (fcn imports the
// training net).
func phaseSkipped(l *caffepb.LayerParameter) (bool, string) {
	if l.Phase != nil && l.GetPhase() == caffepb.Phase_TEST {
		return true, "TEST phase only: skipped"
	}
	for _, r := range l.GetInclude() {
		if r.Phase != nil && r.GetPhase() == caffepb.Phase_TEST {
			return true, "included in the TEST phase only: skipped"
		}
	}
	for _, r := range l.GetExclude() {
		if r.Phase != nil && r.GetPhase() == caffepb.Phase_TRAIN {
			return true, "excluded from the TRAIN phase: skipped"
		}
	}
	return false, ""
}

// inputShape reads an Input layer's N×3×H×W shape.
func inputShape(l *caffepb.LayerParameter) ([2]int, int, error) {
	ss := l.GetInputParam().GetShape()
	if len(ss) == 0 {
		return [2]int{}, 0, fmt.Errorf("input_param.shape: required")
	}
	d := ss[0].GetDim()
	if len(d) != 4 {
		return [2]int{}, 0, fmt.Errorf("input_param.shape: %v; want 4 dims N, C, H, W", d)
	}
	if d[1] != 3 {
		return [2]int{}, 0, fmt.Errorf("input_param.shape: %d channels; fcn's images have 3", d[1])
	}
	for _, x := range d {
		if x < 1 || x > math.MaxInt32 {
			return [2]int{}, 0, fmt.Errorf("input_param.shape: %v: dims must be ≥ 1", d)
		}
	}
	return [2]int{int(d[2]), int(d[3])}, int(d[0]), nil
}

// loss reads SoftmaxWithLoss into the loss section.
func (im *importer) loss(l *caffepb.LayerParameter, exp *configs.Experiment) error {
	if err := im.onlyFields(l, "loss_param", "loss_weight"); err != nil {
		return err
	}
	if w := l.GetLossWeight(); len(w) > 0 && (len(w) != 1 || w[0] != 1) {
		return im.errf(l, "loss_weight %v: fcn's loss has weight 1", w)
	}
	p := l.GetLossParam()
	if p == nil {
		p = &caffepb.LossParameter{}
	}
	if p.IgnoreLabel != nil {
		exp.Loss.IgnoreLabel = int(p.GetIgnoreLabel())
		exp.Data.IgnoreLabel = exp.Loss.IgnoreLabel
	}
	mode := p.GetNormalization()
	if p.Normalize != nil { // the older field wins when set, as in Caffe
		mode = caffepb.LossParameter_BATCH_SIZE
		if p.GetNormalize() {
			mode = caffepb.LossParameter_VALID
		}
	}
	switch mode {
	case caffepb.LossParameter_VALID:
		exp.Loss.Normalize = layers.NormalizeMean
	case caffepb.LossParameter_NONE:
		exp.Loss.Normalize = layers.NormalizeSum
	case caffepb.LossParameter_BATCH_SIZE:
		exp.Loss.Normalize = layers.NormalizeSum
		im.notef("%s: normalize false (divide by the batch size) is fcn's normalize: sum, the same at FCN's batch 1", where(l))
	default:
		return im.errf(l, "loss_param.normalization %v: fcn normalises over valid pixels (VALID) or not at all (NONE, BATCH_SIZE)", mode)
	}
	return nil
}

// onlyFields refuses set LayerParameter fields besides the shared ones and allowed.
func (im *importer) onlyFields(l *caffepb.LayerParameter, allowed ...string) error {
	m := l.ProtoReflect()
	var bad []string
	for i, fds := 0, m.Descriptor().Fields(); i < fds.Len(); i++ {
		fd := fds.Get(i)
		n := string(fd.Name())
		if m.Has(fd) && !slices.Contains(layerFields, n) && !slices.Contains(allowed, n) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return im.errf(l, "field %s cannot be mapped to fcn", strings.Join(bad, ", "))
	}
	return nil
}

// layer maps one Caffe layer (and a following one its type absorbs) through the registry.
func (im *importer) layer(l *caffepb.LayerParameter, rest []*caffepb.LayerParameter) (configs.LayerSpec, int, error) {
	typ := l.GetType()
	field := fieldName(typ)
	f := paramFields(l, field)
	t := mappingFor(typ, f)
	if t == nil {
		if ns := typesNamed(typ); len(ns) > 0 {
			return configs.LayerSpec{}, 0, im.errf(l, "these %s fields map to no fcn layer type this build has (it maps %s layers to %s): %v", field, typ, joinOr(ns), f)
		}
		return configs.LayerSpec{}, 0, im.errf(l, "unknown layer type %q: fcn maps %s", typ, strings.Join(caffeTypes(), ", "))
	}
	m := t.CaffeMap
	if err := im.onlyFields(l, m.Field); err != nil {
		return configs.LayerSpec{}, 0, err
	}
	if len(l.GetTop()) != 1 {
		return configs.LayerSpec{}, 0, im.errf(l, "has %d tops; fcn layers have one output", len(l.GetTop()))
	}
	top := l.GetTop()[0]
	absorbed := 0
	if m.Absorb != "" && len(rest) > 0 && absorbs(t, rest[0], top) {
		next := rest[0]
		if err := im.onlyFields(next, m.AbsorbField); err != nil {
			return configs.LayerSpec{}, 0, err
		}
		if len(next.GetParam()) > 0 {
			return configs.LayerSpec{}, 0, im.errf(next, "param multipliers on the %s folded into %s: give them on %s", m.Absorb, l.GetName(), l.GetName())
		}
		for k, v := range paramFields(next, m.AbsorbField) {
			f[m.Absorb+"."+k] = v
		}
		if len(next.GetTop()) != 1 || next.GetTop()[0] != top {
			return configs.LayerSpec{}, 0, im.errf(next, "must work in place on %s", top)
		}
		absorbed = 1
		im.notef("%s and %s: one fcn %s layer", where(l), where(next), t.Name)
	}
	r := layers.NewCaffeReader(f)
	o := t.NewOptions()
	if err := m.FromCaffe(r, &o); err != nil {
		return configs.LayerSpec{}, 0, im.errf(l, "%s: %v", field, err)
	}
	if u := r.Unused(); len(u) > 0 {
		return configs.LayerSpec{}, 0, im.errf(l, "field %s.%s cannot be mapped to fcn's %s", field, strings.Join(u, ", "+field+"."), t.Name)
	}
	for _, n := range r.Notes() {
		im.layerNote(l.GetName(), n)
	}
	spec := configs.LayerSpec{Name: l.GetName(), Type: t.Name, Options: o}
	for _, b := range l.GetBottom() {
		p, ok := im.producer[b]
		if !ok {
			return configs.LayerSpec{}, 0, im.errf(l, "bottom %q: no layer before it makes it", b)
		}
		spec.Inputs = append(spec.Inputs, p)
	}
	im.producer[top] = l.GetName()
	return spec, absorbed, nil
}

// caffeTypes lists the Caffe types the registry maps, and the ones the importer reads itself.
func caffeTypes() []string {
	seen := map[string]bool{"Input": true, "Python": true, "Accuracy": true, "Silence": true, "SoftmaxWithLoss": true}
	for _, t := range layers.Types() {
		if t.CaffeMap != nil {
			seen[t.CaffeMap.Type] = true
		}
	}
	var ts []string
	for k := range seen {
		ts = append(ts, k)
	}
	slices.Sort(ts)
	return ts
}

// setClasses sets model.classes to the channels of the scores (the last layer with an
// output channel count on the scores' path) and writes `out: classes` where a layer
// has that many.
func setClasses(exp *configs.Experiment) error {
	byName := map[string]*configs.LayerSpec{}
	for i := range exp.Model.Layers {
		byName[exp.Model.Layers[i].Name] = &exp.Model.Layers[i]
	}
	classes := 0
	for l := byName[exp.Model.Output()]; l != nil; {
		if l.Options.Type().Option("out") != nil {
			classes = l.Options.Channels("out").N
			break
		}
		if len(l.Inputs) == 0 {
			break
		}
		l = byName[l.Inputs[0]]
	}
	if classes < 1 {
		return fmt.Errorf("no layer before the scores sets their channel count (num_output)")
	}
	exp.Model.Classes = classes
	for i := range exp.Model.Layers {
		o := &exp.Model.Layers[i].Options
		if o.Type().Option("out") != nil && o.Channels("out").N == classes {
			if err := o.Set("out", layers.Channels{Classes: true}); err != nil {
				return err
			}
		}
	}
	return nil
}

// multipliers maps `param { lr_mult decay_mult }`: the first spec is the layer's
// lr_mult and decay_mult (0 and 0: learn false); the bias's spec relative to it is the
// experiment-wide optim.bias_lr_mult and bias_decay_mult (FCN: 2 and 0), taken from the
// first layer that has one. A layer whose bias differs is mapped to the closest with a
// note.
func (im *importer) multipliers(ls []*caffepb.LayerParameter, exp *configs.Experiment) error {
	byName := map[string]*configs.LayerSpec{}
	for i := range exp.Model.Layers {
		byName[exp.Model.Layers[i].Name] = &exp.Model.Layers[i]
	}
	biasSet := false
	for _, l := range ls {
		spec := byName[l.GetName()]
		ps := l.GetParam()
		if spec == nil || len(ps) == 0 {
			if spec == nil && len(ps) > 0 && slices.ContainsFunc(ps, func(p *caffepb.ParamSpec) bool { return p.GetLrMult() != 1 || p.GetDecayMult() != 1 }) {
				if skip, _ := phaseSkipped(l); !skip && l.GetType() != "Input" && l.GetType() != "Python" {
					return im.errf(l, "param multipliers on a layer without parameters")
				}
			}
			continue
		}
		t := spec.Options.Type()
		if t.Option("lr_mult") == nil {
			return im.errf(l, "param: fcn's %s has no learned parameters to multiply", t.Name)
		}
		for _, p := range ps {
			if p.GetName() != "" {
				return im.errf(l, "param name %q: shared parameters are not supported", p.GetName())
			}
		}
		w := ps[0]
		o := &spec.Options
		wl, wd := float64(w.GetLrMult()), float64(w.GetDecayMult())
		hasBias := len(ps) > 1
		if wl == 0 && (!hasBias || ps[1].GetLrMult() == 0) {
			if err := o.Set("learn", false); err != nil {
				return err
			}
			continue
		}
		if wl != 1 {
			if err := o.Set("lr_mult", round32(wl)); err != nil {
				return err
			}
		}
		if wd != 1 {
			if err := o.Set("decay_mult", round32(wd)); err != nil {
				return err
			}
		}
		if !hasBias {
			continue
		}
		if len(ps) > 2 {
			return im.errf(l, "%d param entries; fcn maps weight and bias", len(ps))
		}
		bl, bd := float64(ps[1].GetLrMult()), float64(ps[1].GetDecayMult())
		rl := ratio(bl, wl)
		rd := ratio(bd, wd)
		if !biasSet && !math.IsNaN(rl) && !math.IsNaN(rd) {
			exp.Optim.BiasLRMult, exp.Optim.BiasDecayMult, biasSet = round32(rl), round32(rd), true
			continue
		}
		if math.IsNaN(rl) || math.IsNaN(rd) || round32(rl) != exp.Optim.BiasLRMult || round32(rd) != exp.Optim.BiasDecayMult {
			im.notef("%s: bias lr_mult %g decay_mult %g is not the net's bias ×%g lr, ×%g decay: mapped to the latter (fcn has one bias rule per experiment)",
				where(l), bl, bd, exp.Optim.BiasLRMult, exp.Optim.BiasDecayMult)
		}
	}
	return nil
}

// ratio is b/a, with 0/0 as 0 (no decay either way) and x/0 as NaN (not expressible).
func ratio(b, a float64) float64 {
	switch {
	case a != 0:
		return b / a
	case b == 0:
		return 0
	}
	return math.NaN()
}

// round32 drops float32 noise (0.1 read as 0.10000000149).
func round32(x float64) float64 {
	r, _ := parseShortest(x)
	return r
}

// importSolver maps the solver onto optim, schedule and train.
func importSolver(path string, s *caffepb.SolverParameter, exp *configs.Experiment, im *importer) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	switch t := s.GetType(); t {
	case "SGD":
	case "Nesterov":
		exp.Optim.Nesterov = true
	default:
		return bad("type %q: fcn's solver is SGD (or Nesterov)", t)
	}
	if s.GetRegularizationType() != "L2" {
		return bad("regularization_type %q: fcn's weight decay is L2", s.GetRegularizationType())
	}
	if s.GetClipGradients() >= 0 {
		return bad("clip_gradients: fcn does not clip gradients")
	}
	if len(s.GetStepvalue()) > 0 {
		return bad("stepvalue: multistep schedules are not supported (fixed, step, poly)")
	}
	if s.BaseLr != nil {
		exp.Optim.LR = round32(float64(s.GetBaseLr()))
	}
	if s.Momentum != nil {
		exp.Optim.Momentum = round32(float64(s.GetMomentum()))
	}
	if s.WeightDecay != nil {
		exp.Optim.WeightDecay = round32(float64(s.GetWeightDecay()))
	}
	switch p := s.GetLrPolicy(); p {
	case "", "fixed":
		exp.Schedule.Policy = "fixed"
	case "step":
		exp.Schedule.Policy = "step"
		if s.GetStepsize() < 1 {
			return bad("lr_policy step: stepsize must be ≥ 1")
		}
		exp.Schedule.StepSize = int(s.GetStepsize())
		exp.Schedule.Gamma = round32(float64(s.GetGamma()))
	case "poly":
		exp.Schedule.Policy = "poly"
		exp.Schedule.Power = round32(float64(s.GetPower()))
	default:
		return bad("lr_policy %q: fcn has fixed, step and poly", p)
	}
	if s.MaxIter != nil {
		if s.GetMaxIter() < 1 {
			return bad("max_iter must be ≥ 1")
		}
		exp.Train.Steps = int(s.GetMaxIter())
	}
	if s.GetIterSize() < 1 {
		return bad("iter_size must be ≥ 1")
	}
	exp.Train.IterSize = int(s.GetIterSize())
	if s.GetRandomSeed() >= 0 {
		exp.Train.Seed = uint64(s.GetRandomSeed())
	}
	if s.GetTestInterval() > 0 && s.GetTestInterval() <= int32(exp.Train.Steps) {
		exp.Eval.Every = int(s.GetTestInterval())
	}
	if s.GetSnapshot() > 0 && s.GetSnapshot() <= int32(exp.Train.Steps) {
		exp.Checkpoint.Every = int(s.GetSnapshot())
	}
	if s.GetNet() != "" || s.GetTrainNet() != "" {
		im.notef("%s: its net file is not read; the net is the prototxt given", path)
	}
	return nil
}

// weights turns the caffemodel's blobs into fcn tensors and checks them against the
// imported net's parameters.
func (im *importer) weights(path string, model *caffepb.NetParameter, exp *configs.Experiment, hw [2]int) ([]checkpoints.Tensor, error) {
	ts, err := modelTensors(path, model)
	if err != nil {
		return nil, err
	}
	h, w := hw[0], hw[1]
	if h == 0 {
		h, w = 224, 224
	}
	g, err := train.BuildModel(exp, 1, h, w, tensor.Float32)
	if err != nil {
		return nil, fmt.Errorf("%s: building the imported net for a %d×%d input: %w", im.path, h, w, err)
	}
	shapes := train.ModelShapes(g)
	var kept []checkpoints.Tensor
	got := map[string]bool{}
	for _, t := range ts {
		want, ok := shapes[t.Name]
		if !ok {
			im.notef("%s: %s is not a parameter of the net: left out", path, t.Name)
			continue
		}
		if !slices.Equal(want, t.Shape) {
			layer, blob, _ := strings.Cut(t.Name, ".")
			return nil, fmt.Errorf("%s: layer %s, blob %s: shape %v, the net's parameter is %v", path, layer, blob, t.Shape, want)
		}
		got[t.Name] = true
		kept = append(kept, t)
	}
	var missing []string
	for n := range shapes {
		if !got[n] && !checkpoints.IsCounter(n) { // Caffe keeps no batch count
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		im.notef("%s: no blobs for %s: fcn initialises them", path, strings.Join(missing, ", "))
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("%s: none of its blobs is a parameter of the net (layer names differ?)", path)
	}
	return kept, nil
}

// meanPattern finds FCN's Python data layers' mean in their param_str:
// 'mean': (104.00699, 116.66877, 122.67892).
var meanPattern = regexp.MustCompile(`['"]mean['"]\s*:\s*[(\[]\s*([-0-9.eE+]+)\s*,\s*([-0-9.eE+]+)\s*,\s*([-0-9.eE+]+)\s*,?\s*[)\]]`)

// pythonMean reads the B, G, R mean from a Python data layer's param_str, if it has one.
func pythonMean(paramStr string) ([]float64, bool) {
	m := meanPattern.FindStringSubmatch(paramStr)
	if m == nil {
		return nil, false
	}
	mean := make([]float64, 3)
	for i := range mean {
		v, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return nil, false
		}
		mean[i] = v
	}
	return mean, true
}
