package caffe

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/layers"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The registry's mappings speak layers.CaffeFields; these convert a caffepb parameter
// message to and from them through protobuf reflection, so no layer's fields are
// listed here.

// fieldsOf flattens the set fields of m into f under prefix.
func fieldsOf(m protoreflect.Message, prefix string, f layers.CaffeFields) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		key := prefix + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			if fd.Kind() == protoreflect.MessageKind {
				// Only BlobShape lists (Input's shape) are repeated messages here; they are
				// read by the importer itself, not by a mapping.
				f[key] = l
				return true
			}
			ns := make([]float64, l.Len())
			for i := range ns {
				ns[i] = number(fd, l.Get(i))
			}
			f[key] = ns
		case fd.Kind() == protoreflect.MessageKind:
			fieldsOf(v.Message(), key+".", f)
		case fd.Kind() == protoreflect.EnumKind:
			if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
				f[key] = string(ev.Name())
			} else {
				f[key] = fmt.Sprint(v.Enum())
			}
		case fd.Kind() == protoreflect.BoolKind:
			f[key] = v.Bool()
		case fd.Kind() == protoreflect.StringKind:
			f[key] = v.String()
		default:
			f[key] = number(fd, v)
		}
		return true
	})
}

func number(fd protoreflect.FieldDescriptor, v protoreflect.Value) float64 {
	switch fd.Kind() {
	case protoreflect.FloatKind:
		// A float32 read back as the shortest decimal that gives it (0.999, not
		// 0.9990000128746033), as Caffe's own text output shows it.
		x, _ := strconv.ParseFloat(strconv.FormatFloat(v.Float(), 'g', -1, 32), 64)
		return x
	case protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return float64(v.Uint())
	default:
		return float64(v.Int())
	}
}

// setFields writes f into m; keys name fields by their proto names, dotted into nested
// messages. A key m has no field for is an error (a mapping's bug, or an Absorb prefix
// the caller should have stripped).
func setFields(m protoreflect.Message, f layers.CaffeFields) error {
	for key, val := range f {
		if err := setField(m, key, val); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

func setField(m protoreflect.Message, key string, val any) error {
	name, rest, nested := strings.Cut(key, ".")
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return fmt.Errorf("%s has no field %s", m.Descriptor().Name(), name)
	}
	if nested {
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() {
			return fmt.Errorf("%s is not a message", name)
		}
		return setField(m.Mutable(fd).Message(), rest, val)
	}
	if fd.IsList() {
		ns, ok := val.([]float64)
		if !ok {
			return fmt.Errorf("want a list of numbers, got %T", val)
		}
		l := m.Mutable(fd).List()
		for _, n := range ns {
			l.Append(scalar(fd, n))
		}
		return nil
	}
	switch v := val.(type) {
	case float64:
		m.Set(fd, scalar(fd, v))
	case bool:
		m.Set(fd, protoreflect.ValueOfBool(v))
	case string:
		if fd.Kind() == protoreflect.EnumKind {
			ev := fd.Enum().Values().ByName(protoreflect.Name(v))
			if ev == nil {
				return fmt.Errorf("no enum value %s", v)
			}
			m.Set(fd, protoreflect.ValueOfEnum(ev.Number()))
		} else {
			m.Set(fd, protoreflect.ValueOfString(v))
		}
	default:
		return fmt.Errorf("unsupported value %T", val)
	}
	return nil
}

func scalar(fd protoreflect.FieldDescriptor, n float64) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(n)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n))
	default:
		return protoreflect.ValueOfInt32(int32(n))
	}
}

func protoreflectName(s string) protoreflect.Name { return protoreflect.Name(s) }

// parseShortest rounds x to the float32 it was read from, shortest decimal.
func parseShortest(x float64) (float64, error) {
	return strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
}
