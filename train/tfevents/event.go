package tfevents

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Event is a tensorflow.Event with the fields fcn writes: exactly one of FileVersion,
// Values (a Summary) and Session is set.
type Event struct {
	WallTime    float64 // seconds since the Unix epoch
	Step        int64
	FileVersion string
	Values      []Value
	Session     *SessionLog
}

// Value is a Summary.Value: a scalar (Image nil) or an image.
type Value struct {
	Tag    string
	Scalar float32
	Image  *Image
}

// Image is a Summary.Image: an encoded PNG and its size (colorspace 3 = RGB, 4 = RGBA).
type Image struct {
	Height, Width, Colorspace int32
	Encoded                   []byte
}

// SessionLog marks the start (or stop, or a checkpoint) of a training session, so that
// TensorBoard drops the events a resumed run writes again.
type SessionLog struct {
	Status         int32
	CheckpointPath string
	Msg            string
}

// Marshal encodes e as a tensorflow.Event.
func (e *Event) Marshal() []byte {
	// Zero fields are left out, as proto3 encoders do.
	var b []byte
	if e.WallTime != 0 {
		b = protowire.AppendTag(b, eventWallTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(e.WallTime))
	}
	if e.Step != 0 {
		b = protowire.AppendTag(b, eventStep, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.Step))
	}
	switch {
	case e.FileVersion != "":
		b = protowire.AppendTag(b, eventFileVersion, protowire.BytesType)
		b = protowire.AppendString(b, e.FileVersion)
	case e.Session != nil:
		var s []byte
		s = protowire.AppendTag(s, sessionStatus, protowire.VarintType)
		s = protowire.AppendVarint(s, uint64(e.Session.Status))
		if e.Session.CheckpointPath != "" {
			s = protowire.AppendTag(s, sessionCheckpointPath, protowire.BytesType)
			s = protowire.AppendString(s, e.Session.CheckpointPath)
		}
		if e.Session.Msg != "" {
			s = protowire.AppendTag(s, sessionMsg, protowire.BytesType)
			s = protowire.AppendString(s, e.Session.Msg)
		}
		b = protowire.AppendTag(b, eventSessionLog, protowire.BytesType)
		b = protowire.AppendBytes(b, s)
	default:
		var sum []byte
		for _, v := range e.Values {
			sum = protowire.AppendTag(sum, summaryValue, protowire.BytesType)
			sum = protowire.AppendBytes(sum, v.marshal())
		}
		b = protowire.AppendTag(b, eventSummary, protowire.BytesType)
		b = protowire.AppendBytes(b, sum)
	}
	return b
}

func (v *Value) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, valueTag, protowire.BytesType)
	b = protowire.AppendString(b, v.Tag)
	if v.Image == nil {
		b = protowire.AppendTag(b, valueSimpleValue, protowire.Fixed32Type)
		return protowire.AppendFixed32(b, math.Float32bits(v.Scalar))
	}
	var im []byte
	im = protowire.AppendTag(im, imageHeight, protowire.VarintType)
	im = protowire.AppendVarint(im, uint64(v.Image.Height))
	im = protowire.AppendTag(im, imageWidth, protowire.VarintType)
	im = protowire.AppendVarint(im, uint64(v.Image.Width))
	im = protowire.AppendTag(im, imageColorspace, protowire.VarintType)
	im = protowire.AppendVarint(im, uint64(v.Image.Colorspace))
	im = protowire.AppendTag(im, imageEncoded, protowire.BytesType)
	im = protowire.AppendBytes(im, v.Image.Encoded)
	b = protowire.AppendTag(b, valueImage, protowire.BytesType)
	return protowire.AppendBytes(b, im)
}

// field is one decoded proto field: its number and either a varint/fixed value or bytes.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	u    uint64
	data []byte
}

// fields splits a message into its fields.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.data, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

// Unmarshal decodes a tensorflow.Event, keeping the fields Event has and skipping others.
func Unmarshal(b []byte) (Event, error) {
	var e Event
	fs, err := fields(b)
	if err != nil {
		return e, fmt.Errorf("event: %w", err)
	}
	for _, f := range fs {
		switch f.num {
		case eventWallTime:
			e.WallTime = math.Float64frombits(f.u)
		case eventStep:
			e.Step = int64(f.u)
		case eventFileVersion:
			e.FileVersion = string(f.data)
		case eventSummary:
			vs, err := fields(f.data)
			if err != nil {
				return e, fmt.Errorf("event summary: %w", err)
			}
			for _, vf := range vs {
				if vf.num != summaryValue {
					continue
				}
				v, err := unmarshalValue(vf.data)
				if err != nil {
					return e, err
				}
				e.Values = append(e.Values, v)
			}
		case eventSessionLog:
			ss, err := fields(f.data)
			if err != nil {
				return e, fmt.Errorf("event session_log: %w", err)
			}
			s := &SessionLog{}
			for _, sf := range ss {
				switch sf.num {
				case sessionStatus:
					s.Status = int32(sf.u)
				case sessionCheckpointPath:
					s.CheckpointPath = string(sf.data)
				case sessionMsg:
					s.Msg = string(sf.data)
				}
			}
			e.Session = s
		}
	}
	return e, nil
}

func unmarshalValue(b []byte) (Value, error) {
	var v Value
	fs, err := fields(b)
	if err != nil {
		return v, fmt.Errorf("summary value: %w", err)
	}
	for _, f := range fs {
		switch f.num {
		case valueTag:
			v.Tag = string(f.data)
		case valueSimpleValue:
			v.Scalar = math.Float32frombits(uint32(f.u))
		case valueImage:
			is, err := fields(f.data)
			if err != nil {
				return v, fmt.Errorf("summary image: %w", err)
			}
			im := &Image{}
			for _, g := range is {
				switch g.num {
				case imageHeight:
					im.Height = int32(g.u)
				case imageWidth:
					im.Width = int32(g.u)
				case imageColorspace:
					im.Colorspace = int32(g.u)
				case imageEncoded:
					im.Encoded = g.data
				}
			}
			v.Image = im
		}
	}
	if v.Tag == "" {
		return v, errors.New("summary value without a tag")
	}
	return v, nil
}
