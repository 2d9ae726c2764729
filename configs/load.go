package configs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/layers"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the environment variables that set keys: FCN_TRAIN_STEPS is train.steps.
const EnvPrefix = "FCN_"

// runtimeEnv are FCN_ variables that tune the program or its tests, not the experiment
// (the GEMM kernel choice, the opt-in soak test, where the board test saves its
// screenshot); Load leaves them alone instead of rejecting them as unknown keys.
var runtimeEnv = map[string]bool{"FCN_GEMM_KERNEL": true, "FCN_SOAK": true, "FCN_BOARD_SCREENSHOT": true, "FCN_FULL_SIZE": true}

// Load reads an experiment, applies the environment and --set overrides, and checks it.
//
// nameOrPath is a shipped experiment's name ("default", "fcn8s", ...; see Names) or the
// path of a YAML file; "" means "default". A path is anything ending in .yaml or .yml or
// containing a path separator; any other string is looked up among the shipped names
// first, then as a file.
//
// sets are --set arguments, "key=value" (train.steps=10, model.layers[upscore2].learn=false
// or model.layers[3].stride=2 for one layer's option). env is a list of "NAME=value" as
// os.Environ returns; only names starting with FCN_ are read, and each must name a key
// (FCN_TRAIN_BATCH_SIZE is train.batch_size). Keys inside model.layers cannot be set
// from the environment.
//
// The error, if any, lists every problem found (see Errors), one a line.
func Load(nameOrPath string, sets []string, env []string) (*Experiment, error) {
	text, source, name, err := readSource(nameOrPath)
	if err != nil {
		return nil, err
	}
	return parse(source, name, text, sets, env, false)
}

// LoadModel is Load for commands that do not read the dataset (summary, predict): it
// accepts an empty data.root; every other check applies.
func LoadModel(nameOrPath string, sets []string, env []string) (*Experiment, error) {
	text, source, name, err := readSource(nameOrPath)
	if err != nil {
		return nil, err
	}
	return parse(source, name, text, sets, env, true)
}

// LoadData is Load for commands that read only the dataset (fcn data check): a file
// without a model section is taken as a data section, and only that is checked; a whole
// experiment is checked whole, as Load does.
func LoadData(nameOrPath string, sets []string, env []string) (*Experiment, error) {
	text, source, name, err := readSource(nameOrPath)
	if err != nil {
		return nil, err
	}
	return parseAs(source, name, text, sets, env, problems{dataOnly: true})
}

// Parse is Load on the text of an experiment; source names it in messages and name is
// the experiment's name when the text does not set one.
func Parse(source, name string, text []byte, sets []string, env []string) (*Experiment, error) {
	return parse(source, name, text, sets, env, false)
}

func parse(source, name string, text []byte, sets []string, env []string, noData bool) (*Experiment, error) {
	return parseAs(source, name, text, sets, env, problems{noData: noData})
}

// parseAs parses with the checks that mode's noData and dataOnly ask for.
func parseAs(source, name string, text []byte, sets []string, env []string, mode problems) (*Experiment, error) {
	if err := checkText(source, text, MaxConfigBytes); err != nil {
		return nil, err
	}
	for _, s := range sets {
		if err := checkText(source+": --set "+trimForMessage(s), []byte(s), MaxSetBytes); err != nil {
			return nil, err
		}
	}
	p := &problems{source: source, origin: map[string]string{}, noData: mode.noData}
	p.dataOnly = mode.dataOnly
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(text)); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	leaves := leafKeys()
	// The environment first, then --set: viper's Set overrides, the last one winning.
	for _, kv := range env {
		envName, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(envName, EnvPrefix) || runtimeEnv[envName] {
			continue
		}
		origin := "environment " + kv
		key, ok := envKey(envName, leaves)
		if !ok {
			p.list = append(p.list, &Error{Source: source, Origin: origin, Msg: "no such key" + suggestEnv(envName, leaves)})
			continue
		}
		x, err := parseValue(val, leaves[key])
		if err != nil {
			p.list = append(p.list, &Error{Source: source, Key: key, Origin: origin, Msg: err.Error()})
			continue
		}
		v.Set(key, x)
		p.origin[key] = origin
	}
	var layerSets []layerSet
	for _, s := range sets {
		key, val, ok := strings.Cut(s, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		origin := "--set " + s
		if !ok || key == "" {
			p.list = append(p.list, &Error{Source: source, Origin: origin, Msg: "expected key=value, e.g. --set train.steps=100"})
			continue
		}
		if strings.HasPrefix(key, "model.layers[") {
			ls, err := parseLayerSet(key, val, origin)
			if err != nil {
				p.list = append(p.list, &Error{Source: source, Origin: origin, Msg: err.Error()})
				continue
			}
			layerSets = append(layerSets, ls)
			continue
		}
		x, err := parseValue(val, leaves[key])
		if err != nil {
			p.list = append(p.list, &Error{Source: source, Key: key, Origin: origin, Msg: err.Error()})
			continue
		}
		v.Set(key, x)
		p.origin[key] = origin
	}
	all := v.AllSettings()
	for _, ls := range layerSets {
		if err := ls.apply(all, p); err != nil {
			p.list = append(p.list, &Error{Source: source, Origin: ls.origin, Msg: err.Error()})
		}
	}
	if len(p.list) > 0 {
		return nil, p.list
	}

	e := Default()
	p.decodeStruct("", all, reflect.ValueOf(&e).Elem())
	if len(p.list) > 0 {
		// Type errors leave fields half set; checking values now would only add noise.
		return nil, p.list
	}
	e.Source = source
	resolve(&e, name, all)
	if p.dataOnly && !has(all, "model") {
		if err := e.Data.Validate(); err != nil {
			dataErrors(err, p)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		return &e, nil
	}
	validate(&e, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return &e, nil
}

// readSource finds the experiment's text: a shipped name or a file.
func readSource(nameOrPath string) (text []byte, source, name string, err error) {
	if nameOrPath == "" {
		nameOrPath = "default"
	}
	ext := filepath.Ext(nameOrPath)
	isPath := ext == ".yaml" || ext == ".yml" || strings.ContainsRune(nameOrPath, '/') || strings.ContainsRune(nameOrPath, filepath.Separator)
	if !isPath {
		if b, err := shipped.ReadFile(nameOrPath + ".yaml"); err == nil {
			if strings.HasPrefix(nameOrPath, "study-") {
				return nil, "", "", fmt.Errorf("%s is a study, not an experiment: run it with fcn compare --config %s", nameOrPath, nameOrPath)
			}
			return b, nameOrPath + ".yaml (shipped)", nameOrPath, nil
		}
		if _, err := os.Stat(nameOrPath); err != nil {
			hint := ""
			if best, ok := Closest(nameOrPath, Names()); ok {
				hint = fmt.Sprintf("; did you mean %q?", best)
			}
			return nil, "", "", fmt.Errorf("unknown experiment %q%s (shipped experiments: %s; or give the path of a YAML file)",
				nameOrPath, hint, strings.Join(Names(), ", "))
		}
	}
	// The size first, from the file system: a huge file is refused without reading it.
	if fi, err := os.Stat(nameOrPath); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxConfigBytes {
		return nil, "", "", fmt.Errorf("%s: %d bytes, over the %d-byte limit for an experiment (real ones are a few kilobytes)", nameOrPath, fi.Size(), MaxConfigBytes)
	}
	b, err := readAtMost(nameOrPath, MaxConfigBytes+1)
	if err != nil {
		return nil, "", "", fmt.Errorf("experiment file: %w", err)
	}
	return b, nameOrPath, strings.TrimSuffix(filepath.Base(nameOrPath), ext), nil
}

// leafKeys maps every dotted key that the environment or a plain --set can address (all
// scalar and list keys outside model.layers) to its Go type.
func leafKeys() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for key, idx := range fieldsOf(t) {
			ft := t.FieldByIndex(idx).Type
			k := join(prefix, key)
			switch {
			case k == "model.layers":
			case ft.Kind() == reflect.Struct:
				walk(k, ft)
			default:
				m[k] = ft
			}
		}
	}
	walk("", reflect.TypeFor[Experiment]())
	return m
}

// envName is the environment variable of a key: train.batch_size → FCN_TRAIN_BATCH_SIZE.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func envKey(name string, leaves map[string]reflect.Type) (string, bool) {
	for k := range leaves {
		if envName(k) == name {
			return k, true
		}
	}
	return "", false
}

func suggestEnv(name string, leaves map[string]reflect.Type) string {
	names := make([]string, 0, len(leaves))
	byName := map[string]string{}
	for k := range leaves {
		names = append(names, envName(k))
		byName[envName(k)] = k
	}
	if best, ok := Closest(name, names); ok {
		return fmt.Sprintf(", did you mean %s (%s)?", best, byName[best])
	}
	return " (FCN_<SECTION>_<KEY>, e.g. FCN_TRAIN_STEPS for train.steps)"
}

// parseValue reads an override's text: as YAML (numbers, booleans, [lists]), except that
// keys of string type take the text itself unless it is a quoted YAML string.
func parseValue(text string, t reflect.Type) (any, error) {
	if t != nil && t.Kind() == reflect.String {
		var s string
		if q := strings.TrimSpace(text); len(q) >= 2 && (q[0] == '"' || q[0] == '\'') && yaml.Unmarshal([]byte(q), &s) == nil {
			return s, nil
		}
		return text, nil
	}
	if strings.TrimSpace(text) == "" {
		return "", nil // the decoder reports an empty value where a number is due
	}
	var x any
	if err := yaml.Unmarshal([]byte(text), &x); err != nil {
		return nil, fmt.Errorf("cannot read %q as a YAML value: %v", text, err)
	}
	return normalize(x), nil
}

// normalize turns map[any]any (not produced by yaml.v3, but cheap to guard) into
// map[string]any so that the decoder sees one shape.
func normalize(x any) any {
	switch t := x.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, v := range t {
			m[fmt.Sprint(k)] = normalize(v)
		}
		return m
	case map[string]any:
		for k, v := range t {
			t[k] = normalize(v)
		}
	case []any:
		for i, v := range t {
			t[i] = normalize(v)
		}
	}
	return x
}

// layerSet is one --set model.layers[<index or name>].<option>=value.
type layerSet struct {
	sel, opt, text, origin string
}

var layerSetRE = regexp.MustCompile(`^model\.layers\[([^\]]+)\]\.([a-z_]+)$`)

func parseLayerSet(key, text, origin string) (layerSet, error) {
	m := layerSetRE.FindStringSubmatch(key)
	if m == nil {
		return layerSet{}, fmt.Errorf("expected model.layers[<index or name>].<option>=value, e.g. model.layers[upscore2].learn=false")
	}
	return layerSet{sel: m[1], opt: m[2], text: text, origin: origin}, nil
}

func (ls layerSet) apply(all map[string]any, p *problems) error {
	model, _ := all["model"].(map[string]any)
	list, _ := model["layers"].([]any)
	idx := -1
	if n, err := strconv.Atoi(ls.sel); err == nil {
		if n < 0 || n >= len(list) {
			return fmt.Errorf("model.layers[%d]: there are %d layers (indices 0 to %d)", n, len(list), len(list)-1)
		}
		idx = n
	} else {
		var names []string
		for i, l := range list {
			lm, _ := l.(map[string]any)
			name, _ := lm["name"].(string)
			names = append(names, name)
			if name == ls.sel {
				idx = i
			}
		}
		if idx < 0 {
			return fmt.Errorf("no layer named %q%s", ls.sel, suggestList(ls.sel, names))
		}
	}
	lm, ok := list[idx].(map[string]any)
	if !ok {
		return fmt.Errorf("model.layers[%d] is not a mapping", idx)
	}
	var x any
	var err error
	if isStringOption(fmt.Sprint(lm["type"]), ls.opt) {
		x, err = parseValue(ls.text, reflect.TypeFor[string]())
	} else {
		x, err = parseValue(ls.text, nil)
	}
	if err != nil {
		return err
	}
	lm[ls.opt] = x
	name, _ := lm["name"].(string)
	p.origin[layerLabel(idx, name)+": "+ls.opt] = ls.origin
	if opts := LayerOptions(fmt.Sprint(lm["type"])); opts != nil && !slices.Contains(opts, ls.opt) {
		// An unknown option is reported against the layer itself.
		p.origin[layerLabel(idx, name)] = ls.origin
	}
	return nil
}

// isStringOption reports whether a layer key of that type takes text, which --set then
// takes as it is (`--set model.layers[up].mode=frozen`) rather than as YAML.
func isStringOption(typ, key string) bool {
	if key == "name" || key == "type" {
		return true
	}
	if t := layerType(typ); t != nil {
		if o := t.Option(key); o != nil {
			return o.Kind == layers.KindString
		}
	}
	return false
}

// has reports whether the merged settings set a dotted key.
func has(all map[string]any, key string) bool {
	var cur any = all
	for _, k := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

// resolve fills what depends on other keys; see the package comment.
func resolve(e *Experiment, name string, all map[string]any) {
	if e.Name == "" {
		e.Name = name
	}
	for i := range e.Model.Layers {
		l := &e.Model.Layers[i]
		if l.Inputs == nil {
			if i == 0 {
				l.Inputs = []string{"data"}
			} else {
				l.Inputs = []string{e.Model.Layers[i-1].Name}
			}
		}
		if t := l.Options.Type(); t != nil && e.Model.Init != "" {
			for _, o := range t.Options {
				// An invalid model.init is left for validation to report.
				if o.ModelDefault == "init" && !l.Options.Has(o.Key) && slices.Contains(o.Choices, e.Model.Init) {
					_ = l.Options.Set(o.Key, e.Model.Init) // a valid choice of a string option: cannot fail
				}
			}
		}
		if t := l.Options.Type(); t != nil && e.Model.Upsample != "" {
			for _, o := range t.Options {
				if o.ModelKey == "upsample" {
					_ = l.Options.Set(o.Key, e.Model.Upsample) // a string option: cannot fail
				}
			}
		}
	}
	if e.Model.Classes > 0 {
		if e.Data.Format == "synthetic" && !has(all, "data.synthetic.classes") {
			e.Data.Synthetic.Classes = e.Model.Classes
		}
		if e.Data.Format != "synthetic" && !has(all, "data.num_classes") && len(e.Data.Classes) == 0 {
			e.Data.NumClasses = e.Model.Classes
		}
	}
	if !has(all, "loss.ignore_label") {
		e.Loss.IgnoreLabel = e.Data.IgnoreLabel
	}
}

// dataErrors splits the data package's joined "data.key: message" errors into Errors.
func dataErrors(err error, p *problems) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		if _, ok := e.(interface{ Unwrap() []error }); ok {
			dataErrors(e, p)
			continue
		}
		msg := e.Error()
		if key, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(key, "data.") && !strings.Contains(key, " ") {
			p.add(key, "%s", rest)
		} else {
			p.add("data", "%s", msg)
		}
	}
}

// readAtMost reads up to n bytes of a file (a pipe or device may not say its size).
func readAtMost(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// trimForMessage shortens a --set for an error message.
func trimForMessage(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
