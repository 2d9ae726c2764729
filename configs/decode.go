package configs

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/fcn-dev/fcn/layers"
)

// Error is one problem with an experiment: where it came from, which key, what is wrong.
type Error struct {
	Source string // the file, e.g. "configs/my.yaml" or "default.yaml (shipped)"
	Key    string // dotted key, e.g. "train.steps" or "model.layers[3] (upscore2)"
	Origin string // "" when the file set it; else "--set k=v" or "environment FCN_K=v"
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Origin != "" {
			fmt.Fprintf(&b, " (from %s)", e.Origin)
		}
		b.WriteString(": ")
	} else if e.Origin != "" {
		b.WriteString(e.Origin)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one experiment, in a stable order; its message has
// one line per problem.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects Errors while loading; origin maps keys set by the environment or
// --set to where they came from.
type problems struct {
	source   string
	origin   map[string]string
	list     Errors
	noData   bool // LoadModel: data.root may be empty
	dataOnly bool // LoadData: a file without a model section is checked as data alone
}

func (p *problems) add(key, format string, args ...any) {
	p.list = append(p.list, &Error{Source: p.source, Key: key, Origin: p.originOf(key), Msg: fmt.Sprintf(format, args...)})
}

// originOf finds the override that set key or a key above it.
func (p *problems) originOf(key string) string {
	for k := key; k != ""; {
		if o, ok := p.origin[k]; ok {
			return o
		}
		i := strings.LastIndexAny(k, ".[ ")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

// has reports whether a problem was already recorded under key.
func (p *problems) has(key string) bool {
	for _, e := range p.list {
		if e.Key == key {
			return true
		}
	}
	return false
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return p.list
}

// yamlKey is the YAML key of a struct field, "" for skipped fields, and whether the field
// is inlined.
func yamlKey(f reflect.StructField) (key string, inline bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("yaml")
	if tag == "-" {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(","+opts+",", ",inline,") {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

// fieldsOf maps the YAML keys of a struct type (inlined structs flattened) to field index paths.
func fieldsOf(t reflect.Type) map[string][]int {
	m := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		key, inline := yamlKey(f)
		switch {
		case inline:
			for k, idx := range fieldsOf(f.Type) {
				m[k] = append([]int{i}, idx...)
			}
		case key != "":
			m[key] = []int{i}
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var layerSpecType = reflect.TypeFor[LayerSpec]()

// decodeStruct sets dst's fields from raw (a YAML mapping), leaving fields whose keys are
// absent as they are: dst starts with the defaults.
func (p *problems) decodeStruct(path string, raw any, dst reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		p.add(path, "expected a mapping of keys, got %s", describe(raw))
		return
	}
	fields := fieldsOf(dst.Type())
	for _, k := range sortedKeys(m) {
		idx, ok := fields[k]
		if !ok {
			p.add(join(path, k), "unknown key%s", suggest(k, sortedKeys(fields)))
			continue
		}
		p.decodeValue(join(path, k), m[k], dst.FieldByIndex(idx))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decodeValue sets dst from the YAML value v, strictly: no conversion between strings,
// numbers and booleans; a float only where it is integral goes into an int.
func (p *problems) decodeValue(path string, v any, dst reflect.Value) {
	if v == nil { // YAML null: the zero value
		dst.Set(reflect.Zero(dst.Type()))
		return
	}
	switch dst.Kind() {
	case reflect.Pointer:
		nv := reflect.New(dst.Type().Elem())
		before := len(p.list)
		p.decodeValue(path, v, nv.Elem())
		if len(p.list) == before {
			dst.Set(nv)
		}
	case reflect.Struct:
		p.decodeStruct(path, v, dst)
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			p.add(path, "expected a list, got %s", describe(v))
			return
		}
		if len(list) == 0 {
			// nil, as the encoder's `[]` for a nil slice reads back: round trips stay equal.
			dst.Set(reflect.Zero(dst.Type()))
			return
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, e := range list {
			if dst.Type().Elem() == layerSpecType {
				p.decodeLayer(i, e, out.Index(i).Addr().Interface().(*LayerSpec))
				continue
			}
			p.decodeValue(fmt.Sprintf("%s[%d]", path, i), e, out.Index(i))
		}
		dst.Set(out)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			p.add(path, "expected a string, got %s (quote it to use it as text)", describe(v))
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			p.add(path, "expected true or false, got %s", describe(v))
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := asInt(v)
		if !ok || dst.OverflowInt(n) {
			p.add(path, "expected an integer, got %s", describe(v))
			return
		}
		dst.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, ok := v.(uint64) // YAML integers above MaxInt64
		if !ok {
			n, isInt := asInt(v)
			u, ok = uint64(n), isInt && n >= 0
		}
		if !ok || dst.OverflowUint(u) {
			p.add(path, "expected an integer ≥ 0, got %s", describe(v))
			return
		}
		dst.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, ok := asFloat(v)
		if !ok {
			p.add(path, "expected a number, got %s", describe(v))
			return
		}
		dst.SetFloat(f)
	default:
		p.add(path, "cannot be set (unsupported type %s)", dst.Type())
	}
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// describe names a YAML value's kind and shows it, for messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case int, int64, uint64:
		return fmt.Sprintf("the integer %v", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// decodeLayer decodes model.layers[i], checking its keys against its type's options
// and decoding each option's value by its kind.
func (p *problems) decodeLayer(i int, raw any, dst *LayerSpec) {
	m, ok := raw.(map[string]any)
	if !ok {
		p.add(layerLabel(i, ""), "expected a mapping such as {name: conv1, type: conv, out: 16, kernel: 3}, got %s", describe(raw))
		return
	}
	name, _ := m["name"].(string)
	label := layerLabel(i, name)
	if _, ok := m["name"]; !ok {
		p.add(label, "missing name")
	}
	typName, _ := m["type"].(string)
	typ := layerType(typName)
	switch {
	case m["type"] == nil:
		p.add(label, "missing type (one of %s)", strings.Join(layers.ModelTypes(), ", "))
	case typ == nil:
		p.add(label, "unknown layer type %v%s", quoteIfString(m["type"]), suggestList(fmt.Sprint(m["type"]), layers.ModelTypes()))
	default:
		dst.Options = typ.NewOptions()
	}
	allKeys := append(slices.Clone(commonKeys), layers.AllOptionKeys()...)
	for _, k := range sortedKeys(m) {
		path := label + ": " + k
		switch k {
		case "name":
			p.decodeValue(path, m[k], reflect.ValueOf(&dst.Name).Elem())
			continue
		case "type":
			p.decodeValue(path, m[k], reflect.ValueOf(&dst.Type).Elem())
			continue
		case "inputs":
			p.decodeValue(path, m[k], reflect.ValueOf(&dst.Inputs).Elem())
			continue
		}
		if !slices.Contains(allKeys, k) {
			candidates := allKeys
			if typ != nil {
				candidates = LayerOptions(typName)
			}
			slices.Sort(candidates)
			p.add(label, "unknown key %q%s", k, suggest(k, candidates))
			continue
		}
		if typ == nil {
			continue // its type is unknown: nothing to decode it as
		}
		opt := typ.Option(k)
		if opt == nil {
			p.add(label, "option %q does not apply to %s layers (%s takes: %s)", k, typName, typName, strings.Join(LayerOptions(typName), ", "))
			continue
		}
		if isEmpty(m[k]) {
			continue // null, "" or []: the default, as a file that leaves the key out
		}
		v, err := decodeOption(opt.Kind, m[k])
		if err != nil {
			p.add(path, "%v", err)
			continue
		}
		if err := dst.Options.Set(k, v); err != nil {
			p.add(path, "%v", err)
		}
	}
}

// isEmpty reports YAML null, the empty string and the empty list, which leave an option
// at its default.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}

// decodeOption reads a layer option's YAML value as its kind's Go value (see
// layers.OptionKind), strictly: no conversion between strings, numbers and booleans.
func decodeOption(k layers.OptionKind, v any) (any, error) {
	switch k {
	case layers.KindInt:
		if n, ok := asInt(v); ok && n == int64(int(n)) {
			return int(n), nil
		}
		return nil, fmt.Errorf("expected an integer, got %s", describe(v))
	case layers.KindPair:
		return decodePair(v)
	case layers.KindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("expected true or false, got %s", describe(v))
	case layers.KindFloat:
		if f, ok := asFloat(v); ok {
			return f, nil
		}
		return nil, fmt.Errorf("expected a number, got %s", describe(v))
	case layers.KindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("expected a string, got %s (quote it to use it as text)", describe(v))
	case layers.KindFloats:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("expected a list of numbers, got %s", describe(v))
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("expected a list of numbers, got an empty list")
		}
		fs := make([]float64, len(list))
		for i, e := range list {
			f, ok := asFloat(e)
			if !ok {
				return nil, fmt.Errorf("value %d: expected a number, got %s", i, describe(e))
			}
			fs[i] = f
		}
		return fs, nil
	case layers.KindChannels:
		if s, ok := v.(string); ok && s == "classes" {
			return layers.Channels{Classes: true}, nil
		}
		if n, ok := asInt(v); ok && n == int64(int(n)) {
			return layers.Channels{N: int(n)}, nil
		}
		return nil, fmt.Errorf("expected a channel count or `classes` (model.classes), got %s", describe(v))
	case layers.KindOffset:
		if s, ok := v.(string); ok && s == "auto" {
			return layers.Offset{Auto: true}, nil
		}
		hw, err := decodePair(v)
		if err != nil {
			return nil, fmt.Errorf("expected auto, an integer or an [h, w] pair, got %s", describe(v))
		}
		return layers.Offset{HW: hw}, nil
	}
	return nil, fmt.Errorf("cannot be set (option kind %v)", k)
}

// decodePair reads `3`, `[3]` or `[3, 5]`.
func decodePair(v any) ([2]int, error) {
	if n, ok := asInt(v); ok {
		return [2]int{int(n), int(n)}, nil
	}
	if list, ok := v.([]any); ok && (len(list) == 1 || len(list) == 2) {
		var hw [2]int
		for i, e := range list {
			n, ok := asInt(e)
			if !ok {
				return hw, fmt.Errorf("expected an integer or an [h, w] pair of integers, got %s in the list", describe(e))
			}
			hw[i] = int(n)
		}
		if len(list) == 1 {
			hw[1] = hw[0]
		}
		return hw, nil
	}
	return [2]int{}, fmt.Errorf("expected an integer or an [h, w] pair of integers, got %s", describe(v))
}

// encodeOption is decodeOption's inverse: the YAML value a file writes for v.
func encodeOption(v any) any {
	pair := func(p [2]int) any {
		if p[0] == p[1] {
			return p[0]
		}
		return []int{p[0], p[1]}
	}
	switch x := v.(type) {
	case [2]int:
		return pair(x)
	case layers.Channels:
		if x.Classes {
			return "classes"
		}
		return x.N
	case layers.Offset:
		if x.Auto {
			return "auto"
		}
		return pair(x.HW)
	}
	return v
}

func quoteIfString(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return describe(v)
}

// suggest returns `, did you mean "x"?` for the candidate closest to key, or the list of
// valid keys when none is close.
func suggest(key string, candidates []string) string {
	if best, ok := Closest(key, candidates); ok {
		return fmt.Sprintf(", did you mean %q?", best)
	}
	return fmt.Sprintf(" (valid keys: %s)", strings.Join(candidates, ", "))
}

// suggestList is suggest for values (layer types, policies, ...).
func suggestList(v string, candidates []string) string {
	best, ok := Closest(v, candidates)
	if len(candidates) > 12 { // a model's layer names: too many to list
		if ok {
			return fmt.Sprintf(", did you mean %q?", best)
		}
		return ""
	}
	if ok {
		return fmt.Sprintf(", did you mean %q? (one of %s)", best, strings.Join(candidates, ", "))
	}
	return fmt.Sprintf(" (one of %s)", strings.Join(candidates, ", "))
}

// Closest returns the candidate with the smallest Levenshtein distance to s (ignoring
// case), when that distance is small enough for a "did you mean" to be plausible (at most
// about half of s). Every command that suggests names uses it, so they agree.
func Closest(s string, candidates []string) (string, bool) {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := levenshtein(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, (len(s)+1)/2)
	return best, best != "" && bestD <= limit
}

// levenshtein is the edit distance (insertions, deletions, substitutions) between a and b.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
