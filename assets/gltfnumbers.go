package assets

import (
	"math"
	"strconv"
)

// integralNumbers rewrites the JSON numbers of js whose value is an integer
// but whose text is not ("4.0", "1e2", "-0.0") as integers ("4", "100",
// "0"). glTF's schema types are JSON Schema's, for which 4.0 is an integer;
// encoding/json refuses it for an int field. A float field reads the same
// value either way. js is returned as it is when nothing needs rewriting.
func integralNumbers(js []byte) []byte {
	var out []byte // nil until the first rewrite
	last := 0      // js[:last] is in out
	inString := false
	for i := 0; i < len(js); i++ {
		c := js[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte
			case '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		if c != '-' && (c < '0' || c > '9') {
			continue
		}
		j, plain := i, true
		for j < len(js) && isNumberByte(js[j]) {
			if js[j] == '.' || js[j] == 'e' || js[j] == 'E' {
				plain = false
			}
			j++
		}
		if !plain {
			if v, err := strconv.ParseFloat(string(js[i:j]), 64); err == nil && v == math.Trunc(v) && math.Abs(v) < 1<<53 {
				if out == nil {
					out = make([]byte, 0, len(js))
				}
				out = append(out, js[last:i]...)
				out = strconv.AppendInt(out, int64(v), 10)
				last = j
			}
		}
		i = j - 1
	}
	if out == nil {
		return js
	}
	return append(out, js[last:]...)
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
