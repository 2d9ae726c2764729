package study

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/configs"
	"github.com/spf13/viper"
)

// Study is a study file: variants of one base experiment, each a list of overrides,
// trained on the same data, seeds and step budget and compared in one report (the
// shipped study-upsampling compares FCN's ways of upsampling).
//
//	name: upsampling                 # names the output folder (default: the file's name)
//	description: ...                 # optional, quoted in the report
//	base: default                    # a shipped experiment or the path of one
//	sets: [train.steps=300]          # overrides of the base, for every variant
//	seeds: [1, 2]                    # train.seed of each run (default: the base's)
//	steps: 300                       # train.steps of every run (default: the base's)
//	variants:
//	  - {name: learned, sets: [model.upsample=learned]}
//	  - {name: frozen,  sets: [model.upsample=frozen]}
//
// Every (variant, seed) pair is one training run. A relative base path is relative to the
// study file's folder.
type Study struct {
	Name        string    `yaml:"name" json:"name"`
	Description string    `yaml:"description,omitempty" json:"description,omitempty"`
	Base        string    `yaml:"base" json:"base"`
	Sets        []string  `yaml:"sets,omitempty" json:"sets,omitempty"`
	Seeds       []uint64  `yaml:"seeds,omitempty" json:"seeds,omitempty"`
	Steps       int       `yaml:"steps,omitempty" json:"steps,omitempty"`
	Variants    []Variant `yaml:"variants" json:"variants"`

	// Source is where the study came from, for messages.
	Source string `yaml:"-" json:"-"`
	// dir is the study file's folder ("" for a shipped study).
	dir string
}

// Variant is one variant: a name (a folder name: letters, digits, '.', '_', '-')
// and overrides applied after the base's.
type Variant struct {
	Name string   `yaml:"name" json:"name"`
	Sets []string `yaml:"sets,omitempty" json:"sets,omitempty"`
}

// fileKeys are the keys a study file may have; variantKeys those of a variant.
var (
	fileKeys    = []string{"name", "description", "base", "sets", "seeds", "steps", "variants"}
	variantKeys = []string{"name", "sets"}
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// fixedKey reports whether a variant may not set key: such keys define the data, the
// seed and the step budget every variant shares.
func fixedKey(key string) bool {
	if strings.HasPrefix(key, "data.") {
		return true
	}
	switch key {
	case "train.steps", "train.seed", "train.batch_size", "train.iter_size":
		return true
	}
	return false
}

// Load reads a study: a shipped one by name ("study-upsampling", or "upsampling"
// for short) or a YAML file (a path ending in .yaml or .yml or containing a separator).
// Unknown keys, wrong types and bad values are errors naming the file and the key.
func Load(nameOrPath string) (*Study, error) {
	if nameOrPath == "" {
		return nil, errors.New("study: no study given (a shipped study such as study-upsampling, or a YAML file)")
	}
	ext := filepath.Ext(nameOrPath)
	isPath := ext == ".yaml" || ext == ".yml" || strings.ContainsRune(nameOrPath, '/') || strings.ContainsRune(nameOrPath, filepath.Separator)
	if !isPath {
		for _, n := range []string{nameOrPath, "study-" + nameOrPath} {
			if !strings.HasPrefix(n, "study-") {
				continue
			}
			if text, err := configs.ReadShipped(n); err == nil {
				return Parse(n+".yaml (shipped)", strings.TrimPrefix(n, "study-"), "", text)
			}
		}
		if _, err := os.Stat(nameOrPath); err != nil {
			return nil, fmt.Errorf("unknown study %q: not a shipped study (%s) nor a file", nameOrPath, strings.Join(Shipped(), ", "))
		}
	}
	text, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	name := strings.TrimPrefix(strings.TrimSuffix(filepath.Base(nameOrPath), ext), "study-")
	return Parse(nameOrPath, name, filepath.Dir(nameOrPath), text)
}

// Shipped lists the studies embedded in the binary ("study-upsampling", ...).
func Shipped() []string {
	// configs embeds every *.yaml; its Names leaves studies out, so look for them by the
	// names that are not experiments.
	var out []string
	for _, n := range []string{"study-upsampling"} {
		if _, err := configs.ReadShipped(n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Parse reads a study from YAML text. source names it in messages, name is its name
// when the text gives none, and dir is the folder a relative base path is relative to.
func Parse(source, name, dir string, text []byte) (*Study, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(text)); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	all := v.AllSettings()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", source, key, fmt.Sprintf(format, args...)))
	}
	for _, k := range sortedKeys(all) {
		if !slices.Contains(fileKeys, k) {
			bad(k, "unknown key%s (a study has %s)", suggest(k, fileKeys), strings.Join(fileKeys, ", "))
		}
	}
	s := &Study{Source: source, dir: dir}
	s.Name = yamlString(all, "name", bad)
	s.Description = yamlString(all, "description", bad)
	s.Base = yamlString(all, "base", bad)
	s.Sets = yamlStrings(all["sets"], "sets", all["sets"] != nil, bad)
	if raw, ok := all["seeds"]; ok {
		list, isList := raw.([]any)
		if !isList {
			bad("seeds", "want a list of integers ≥ 0, e.g. [1, 2, 3], got %v", raw)
		}
		for i, x := range list {
			n, ok := yamlInt(x)
			if !ok || n < 0 {
				bad(fmt.Sprintf("seeds[%d]", i), "want an integer ≥ 0, got %v", x)
				continue
			}
			if slices.Contains(s.Seeds, uint64(n)) {
				bad(fmt.Sprintf("seeds[%d]", i), "seed %d is listed twice", n)
			}
			s.Seeds = append(s.Seeds, uint64(n))
		}
		if isList && len(list) == 0 {
			bad("seeds", "is empty; leave it out to use the base experiment's train.seed")
		}
	}
	if raw, ok := all["steps"]; ok {
		n, ok := yamlInt(raw)
		if !ok || n <= 0 {
			bad("steps", "want an integer > 0, got %v", raw)
		}
		s.Steps = int(n)
	}
	rawVariants, ok := all["variants"].([]any)
	if !ok || len(rawVariants) == 0 {
		if _, present := all["variants"]; present && !ok {
			bad("variants", "want a list of {name, sets}, got %v", all["variants"])
		} else {
			bad("variants", "at least one variant is needed, e.g. variants: [{name: learned, sets: [model.upsample=learned]}]")
		}
	}
	for i, raw := range rawVariants {
		key := fmt.Sprintf("variants[%d]", i)
		m, ok := raw.(map[string]any)
		if !ok {
			bad(key, "want a mapping {name, sets}, got %v", raw)
			continue
		}
		var vr Variant
		vr.Name = yamlString(m, "name", func(k, f string, a ...any) { bad(key+"."+k, f, a...) })
		if vr.Name != "" {
			key = fmt.Sprintf("variants[%d] (%s)", i, vr.Name)
		}
		for _, k := range sortedKeys(m) {
			if !slices.Contains(variantKeys, k) {
				bad(key, "unknown key %q%s (a variant has name and sets)", k, suggest(k, variantKeys))
			}
		}
		switch {
		case vr.Name == "":
			bad(key, "name is required")
		case !nameRE.MatchString(vr.Name):
			bad(key, "name %q must be letters, digits, '.', '_' or '-' (it names a folder)", vr.Name)
		}
		for _, prev := range s.Variants {
			if prev.Name == vr.Name && vr.Name != "" {
				bad(key, "variant name %q is used twice", vr.Name)
			}
		}
		vr.Sets = yamlStrings(m["sets"], key+".sets", m["sets"] != nil, bad)
		for _, kv := range vr.Sets {
			k, _, _ := strings.Cut(kv, "=")
			if fixedKey(strings.ToLower(strings.TrimSpace(k))) {
				bad(key, "may not set %s: every variant trains on the same data, seeds and step budget (set it in the study's sets, steps or seeds)", k)
			}
		}
		s.Variants = append(s.Variants, vr)
	}
	if s.Name == "" {
		s.Name = name
	}
	if s.Name != "" && !nameRE.MatchString(s.Name) {
		bad("name", "%q must be letters, digits, '.', '_' or '-' (it names a folder)", s.Name)
	}
	if s.Base == "" {
		bad("base", "is required: a shipped experiment (%s) or the path of one", strings.Join(configs.Names(), ", "))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func yamlString(m map[string]any, key string, bad func(key, format string, args ...any)) string {
	raw, ok := m[key]
	if !ok || raw == nil {
		return ""
	}
	s, ok := raw.(string)
	if !ok {
		bad(key, "want a string, got %v", raw)
	}
	return s
}

// yamlStrings reads a list of key=value overrides.
func yamlStrings(raw any, key string, present bool, bad func(key, format string, args ...any)) []string {
	if !present {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		bad(key, "want a list of key=value strings, e.g. [model.upsample=frozen], got %v", raw)
		return nil
	}
	var out []string
	for i, x := range list {
		s, ok := x.(string)
		if !ok || !strings.Contains(s, "=") || strings.HasPrefix(s, "=") {
			bad(fmt.Sprintf("%s[%d]", key, i), "want key=value, e.g. model.upsample=frozen, got %v", x)
			continue
		}
		out = append(out, s)
	}
	return out
}

func yamlInt(x any) (int64, bool) {
	switch v := x.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		return int64(v), true
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// suggest is ` (did you mean "x"?)` for the candidate closest to s, if close.
func suggest(s string, candidates []string) string {
	if best, ok := configs.Closest(s, candidates); ok {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Run is one training run of a study: a variant trained with one seed.
type Run struct {
	Variant string
	Seed    uint64
	// Dir is the run folder relative to the study's output folder: runs/<variant>-seed<seed>.
	Dir string
	// Exp is the resolved experiment.
	Exp *configs.Experiment
}

// Plan is a study with every run's experiment resolved.
type Plan struct {
	Study *Study
	// Sets are the command line's overrides of the base (--set).
	Sets  []string
	Seeds []uint64
	Runs  []Run // variants in file order, each with its seeds in order
}

// Plan resolves the experiment of every (variant, seed) run, checking them all before
// any work starts. Each run's experiment is the base with, in this order: the study's
// sets, train.steps = steps (if given), the command line's sets (they apply to the base,
// e.g. to point the study at other data), the variant's sets and train.seed = the seed.
// env is as for configs.Load (FCN_* variables apply to the base too). Every run must end
// with the same data section, train.steps, batch_size and iter_size.
func (s *Study) Plan(sets, env []string) (*Plan, error) {
	base := s.Base
	if s.dir != "" && !filepath.IsAbs(base) && (strings.ContainsRune(base, '/') || strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")) {
		base = filepath.Join(s.dir, base)
	}
	common := append([]string(nil), s.Sets...)
	if s.Steps > 0 {
		common = append(common, fmt.Sprintf("train.steps=%d", s.Steps))
	}
	common = append(common, sets...)
	p := &Plan{Study: s, Sets: append([]string(nil), sets...), Seeds: s.Seeds}
	if len(p.Seeds) == 0 {
		e, err := configs.Load(base, common, env)
		if err != nil {
			return nil, fmt.Errorf("study %s: base %s: %w", s.Name, s.Base, err)
		}
		p.Seeds = []uint64{e.Train.Seed}
	}
	var errs []error
	for _, v := range s.Variants {
		for _, seed := range p.Seeds {
			all := append(append(slices.Clone(common), v.Sets...), fmt.Sprintf("train.seed=%d", seed))
			e, err := configs.Load(base, all, env)
			if err != nil {
				errs = append(errs, fmt.Errorf("study %s: variant %s: %w", s.Name, v.Name, err))
				break // the other seeds would fail the same way
			}
			e.Name = fmt.Sprintf("%s-%s", s.Name, v.Name)
			p.Runs = append(p.Runs, Run{Variant: v.Name, Seed: seed, Dir: filepath.Join("runs", fmt.Sprintf("%s-seed%d", v.Name, seed)), Exp: e})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Belt and braces: whatever the overrides did, the runs must share data and budget.
	first := p.Runs[0]
	for _, r := range p.Runs[1:] {
		for _, k := range configs.Diff(first.Exp, r.Exp) {
			if fixedKey(k) && k != "train.seed" {
				return nil, fmt.Errorf("study %s: variant %s differs from variant %s in %s; every variant must train on the same data and step budget", s.Name, r.Variant, first.Variant, k)
			}
		}
	}
	return p, nil
}

// Variants lists the variant names in study order.
func (p *Plan) Variants() []string {
	var out []string
	for _, r := range p.Runs {
		if !slices.Contains(out, r.Variant) {
			out = append(out, r.Variant)
		}
	}
	return out
}
