package caffe

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// marshalText writes m in protobuf's text format the way Caffe's tools write nets: set
// fields in field-number order (so a layer reads name, type, bottom, top first), one
// line per element of a repeated field, `name {` … `}` for messages with two-space
// indentation, enums by name. protobuf-go's prototext is not used for output because it
// deliberately varies its whitespace from build to build and writes `name: {`.
func marshalText(m proto.Message) []byte {
	var b bytes.Buffer
	writeTextMessage(&b, m.ProtoReflect(), 0)
	return b.Bytes()
}

func writeTextMessage(b *bytes.Buffer, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	order := make([]protoreflect.FieldDescriptor, 0, fields.Len())
	for i := range fields.Len() {
		order = append(order, fields.Get(i))
	}
	slices.SortFunc(order, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	indent := strings.Repeat("  ", depth)
	for _, fd := range order {
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		if fd.IsList() {
			for i := range v.List().Len() {
				writeTextField(b, indent, fd, v.List().Get(i), depth)
			}
			continue
		}
		writeTextField(b, indent, fd, v, depth)
	}
}

func writeTextField(b *bytes.Buffer, indent string, fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) {
	b.WriteString(indent)
	b.WriteString(fd.TextName())
	if k := fd.Kind(); k == protoreflect.MessageKind || k == protoreflect.GroupKind {
		b.WriteString(" {\n")
		writeTextMessage(b, v.Message(), depth+1)
		b.WriteString(indent)
		b.WriteString("}\n")
		return
	}
	b.WriteString(": ")
	b.WriteString(textScalar(fd, v))
	b.WriteByte('\n')
}

// textScalar is a scalar value as text format writes it.
func textScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.StringKind:
		return quoteText([]byte(v.String()))
	case protoreflect.BytesKind:
		return quoteText(v.Bytes())
	case protoreflect.FloatKind:
		return textFloat(v.Float(), 32)
	case protoreflect.DoubleKind:
		return textFloat(v.Float(), 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10)
	default: // the signed integer kinds
		return strconv.FormatInt(v.Int(), 10)
	}
}

// textFloat is the shortest decimal that reads back as the same float of that size.
func textFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// quoteText quotes s with C-style escapes, as protobuf's text format (and so Caffe's
// parser) reads them: \" \\ \n \r \t, other bytes outside printable ASCII in octal.
func quoteText(s []byte) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c >= 0x7f {
				b.WriteByte('\\')
				b.WriteString(strconv.FormatUint(uint64(c)>>6&7, 8))
				b.WriteString(strconv.FormatUint(uint64(c)>>3&7, 8))
				b.WriteString(strconv.FormatUint(uint64(c)&7, 8))
				continue
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
