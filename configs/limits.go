package configs

import (
	"bytes"
	"fmt"
)

// Limits on what is parsed as an experiment, checked before the YAML parser sees it:
// a real experiment is a few kilobytes, nested a handful of levels; a multi-megabyte or
// deeply nested file (a mistake, or hostile) would otherwise take the parser tens of
// seconds and gigabytes to refuse.
const (
	MaxConfigBytes = 1 << 20 // an experiment file
	MaxSetBytes    = 64 << 10
	MaxDepth       = 64 // levels of nesting of mappings and sequences, block or flow
)

// checkText refuses text over max bytes or nested deeper than MaxDepth, naming source
// and the line where the limit is passed.
func checkText(source string, text []byte, max int) error {
	if len(text) > max {
		return fmt.Errorf("%s: %d bytes, over the %d-byte limit for an experiment (real ones are a few kilobytes)", source, len(text), max)
	}
	if depth, line := yamlDepth(text, MaxDepth); depth > MaxDepth {
		return fmt.Errorf("%s:%d: nested deeper than %d levels: not an experiment", source, line, MaxDepth)
	}
	return nil
}

// yamlDepth measures the nesting of YAML text: block levels by indentation (each "- "
// starting a line's content counts as one more), plus open flow brackets, outside quotes
// and comments. It stops early, at the first line past limit, and returns the depth
// there and that line (1-based); an over-estimate is harmless, the limit being far above
// any real experiment.
func yamlDepth(text []byte, limit int) (depth, line int) {
	var indents []int // indentation of the open block levels
	flow := 0
	inSingle, inDouble := false, false
	for n, l := range bytes.Split(text, []byte{'\n'}) {
		i := 0
		if flow == 0 && !inSingle && !inDouble {
			for i < len(l) && l[i] == ' ' {
				i++
			}
			if i == len(l) || l[i] == '#' {
				continue
			}
			dashes := 0
			for i+1 < len(l) && l[i] == '-' && (l[i+1] == ' ' || l[i+1] == '\t') {
				dashes++
				i += 2
				for i < len(l) && l[i] == ' ' {
					i++
				}
			}
			ind := i - 2*dashes
			for len(indents) > 0 && indents[len(indents)-1] >= ind {
				indents = indents[:len(indents)-1]
			}
			indents = append(indents, ind)
			if d := len(indents) + dashes; d > depth {
				depth = d
			}
		}
		block := len(indents)
		for ; i < len(l); i++ {
			c := l[i]
			switch {
			case inDouble:
				if c == '\\' {
					i++
				} else if c == '"' {
					inDouble = false
				}
			case inSingle:
				if c == '\'' {
					inSingle = false
				}
			case c == '"':
				inDouble = true
			case c == '\'':
				inSingle = i == 0 || l[i-1] == ' ' || l[i-1] == '[' || l[i-1] == '{' || l[i-1] == ',' || l[i-1] == ':'
			case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
				i = len(l)
			case c == '[' || c == '{':
				flow++
				if d := block + flow; d > depth {
					depth = d
				}
			case c == ']' || c == '}':
				if flow > 0 {
					flow--
				}
			}
		}
		if depth > limit {
			return depth, n + 1
		}
	}
	return depth, 0
}
