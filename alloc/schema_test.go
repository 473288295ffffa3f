package alloc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
)

// dumpSchemaPath is VMA's schema of the statistics JSON
// (GpuMemDump.schema.json, as VMA 3.4 ships it), copied from the project's
// shared formats so that the tests need nothing outside the module;
// vma-stats-sample.json beside it is the sample dump of those formats.
const dumpSchemaPath = "testdata/GpuMemDump.schema.json"

// schemaCheck validates a JSON value against the subset of JSON Schema
// (2020-12) that GpuMemDump.schema.json uses: type, properties, required,
// additionalProperties, items, $ref to #/$defs, enum, pattern and
// propertyNames. A keyword it does not know fails the check, so that a
// schema that grows is not half-checked in silence.
type schemaCheck struct {
	root map[string]any
	errs []string
}

var knownKeywords = []string{"$id", "$schema", "$defs", "type", "properties", "required",
	"additionalProperties", "items", "$ref", "enum", "pattern", "propertyNames"}

func (c *schemaCheck) fail(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

func (c *schemaCheck) check(path string, s map[string]any, v any) {
	for k := range s {
		if !slices.Contains(knownKeywords, k) {
			c.fail(path, "schema keyword %q not supported by this checker", k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/$defs/")
		def, ok := c.root["$defs"].(map[string]any)[name].(map[string]any)
		if !found || !ok {
			c.fail(path, "unresolved $ref %q", ref)
			return
		}
		c.check(path, def, v)
	}
	if t, ok := s["type"].(string); ok && !hasType(t, v) {
		c.fail(path, "%T is not %s", v, t)
		return
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		c.fail(path, "%v not in %v", v, e)
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := v.(string); isStr && !regexp.MustCompile(p).MatchString(str) {
			c.fail(path, "%q does not match %s", str, p)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		c.object(path, s, obj)
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				c.check(fmt.Sprintf("%s[%d]", path, i), items, x)
			}
		}
	}
}

func (c *schemaCheck) object(path string, s map[string]any, obj map[string]any) {
	props, _ := s["properties"].(map[string]any)
	for _, r := range asSlice(s["required"]) {
		if _, ok := obj[r.(string)]; !ok {
			c.fail(path, "required %q missing", r)
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if pn, ok := s["propertyNames"].(map[string]any); ok {
			c.check(path+".(name "+k+")", pn, k)
		}
		if ps, ok := props[k].(map[string]any); ok {
			c.check(path+"."+k, ps, obj[k])
			continue
		}
		switch ap := s["additionalProperties"].(type) {
		case bool:
			if !ap {
				c.fail(path, "property %q not allowed", k)
			}
		case map[string]any:
			c.check(path+"."+k, ap, obj[k])
		}
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func hasType(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil || !strings.ContainsAny(n.String(), ".eE")
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	}
	return false
}

// validateDump fails t when js does not follow VMA's GpuMemDump schema.
func validateDump(t testing.TB, js []byte) {
	t.Helper()
	raw, err := os.ReadFile(dumpSchemaPath)
	require.NoError(t, err, "the shared schema")
	var root map[string]any
	require.NoError(t, json.Unmarshal(raw, &root))
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v), "the dump is JSON")
	c := &schemaCheck{root: root}
	c.check("$", root, v)
	if len(c.errs) > 0 {
		t.Fatalf("dump breaks GpuMemDump.schema.json (%d errors), first: %s", len(c.errs), strings.Join(c.errs[:min(5, len(c.errs))], "; "))
	}
}

// dumpOf is a's statistics JSON, checked against the schema.
func dumpOf(t testing.TB, a *alloc.Allocator) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, a.WriteStatsJSON(&b))
	validateDump(t, b.Bytes())
	return b.Bytes()
}

// TestSchemaCheckCatchesBadDumps: the checker is not a yes-man: a
// dedicated allocation with a field the schema forbids, a Stats without a
// required count, a block name that is not a number and a string where an
// integer goes are each refused; VMA's own sample passes.
func TestSchemaCheckCatchesBadDumps(t *testing.T) {
	sample, err := os.ReadFile("testdata/vma-stats-sample.json")
	require.NoError(t, err)
	validateDump(t, sample)

	good := dumpOf(t, newAllocator(t, sim(t, "1080 Ti"), alloc.Options{}))
	for name, mutate := range map[string]func(map[string]any){
		"Total without BlockCount": func(m map[string]any) { delete(m["Total"].(map[string]any), "BlockCount") },
		"extra Total field":        func(m map[string]any) { m["Total"].(map[string]any)["Bogus"] = 1 },
		"GPU not a string":         func(m map[string]any) { m["General"].(map[string]any)["GPU"] = 7 },
		"API not in enum":          func(m map[string]any) { m["General"].(map[string]any)["API"] = "Metal" },
	} {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(good))
		d.UseNumber()
		require.NoError(t, d.Decode(&m))
		mutate(m)
		var root map[string]any
		raw, _ := os.ReadFile(dumpSchemaPath)
		require.NoError(t, json.Unmarshal(raw, &root))
		c := &schemaCheck{root: root}
		c.check("$", root, m)
		require.NotEmpty(t, c.errs, name)
	}
}
