package assets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/qmuntal/gltf"
)

// The glTF document layer: the container (JSON or GLB), the checks made
// before any geometry is read (version, extensionsRequired, enumerations
// the library would map silently), and the buffers' bytes, from a GLB's
// BIN chunk, data URIs or files of the bundle. Every error names the JSON
// path of what was wrong and never quotes a payload.

// supportedGLTFExtensions are the extensionsRequired entries a load
// accepts: quantized geometry, and KTX2 images under KHR_texture_basisu
// (textureSource).
var supportedGLTFExtensions = map[string]bool{
	"KHR_mesh_quantization": true,
	extTextureBasisu:        true,
}

const (
	glbMagic     = 0x46546C67 // "glTF"
	glbChunkJSON = 0x4E4F534A
	glbChunkBIN  = 0x004E4942
)

// splitGLB returns the JSON and BIN chunks of a GLB file (bin is nil
// without one), with an error naming the fault of a bad header.
func splitGLB(data []byte) (js, bin []byte, err error) {
	bad := func(format string, args ...any) ([]byte, []byte, error) {
		return nil, nil, fmt.Errorf("%w: GLB: %s", ErrDecode, fmt.Sprintf(format, args...))
	}
	if len(data) < 12 {
		return bad("the header is 12 bytes, the file has %d", len(data))
	}
	if v := binary.LittleEndian.Uint32(data[4:]); v != 2 {
		return bad("version %d, only 2 is supported", v)
	}
	if n := binary.LittleEndian.Uint32(data[8:]); uint64(n) != uint64(len(data)) {
		return bad("the header's length is %d bytes, the file has %d", n, len(data))
	}
	rest := data[12:]
	var chunks [2][]byte
	for i := 0; len(rest) > 0 && i < 2; i++ {
		if len(rest) < 8 {
			return bad("chunk %d: its header is 8 bytes, %d are left", i, len(rest))
		}
		n, typ := binary.LittleEndian.Uint32(rest), binary.LittleEndian.Uint32(rest[4:])
		if uint64(n) > uint64(len(rest)-8) {
			return bad("chunk %d: length %d, %d bytes are left", i, n, len(rest)-8)
		}
		want := uint32(glbChunkJSON)
		if i == 1 {
			want = glbChunkBIN
		}
		if typ != want {
			return bad("chunk %d: type 0x%08X, want 0x%08X (%s)", i, typ, want, map[int]string{0: "JSON", 1: "BIN"}[i])
		}
		chunks[i] = rest[8 : 8+n]
		rest = rest[8+n:]
	}
	if chunks[0] == nil {
		return bad("no JSON chunk")
	}
	return chunks[0], chunks[1], nil
}

// decodeGLTF decodes a .gltf or .glb file's document (its buffers not yet
// read) and checks what must hold before anything else is read.
func decodeGLTF(data []byte) (doc *gltf.Document, bin []byte, err error) {
	js := data
	if len(data) >= 4 && binary.LittleEndian.Uint32(data) == glbMagic {
		if js, bin, err = splitGLB(data); err != nil {
			return nil, nil, err
		}
	}
	js = integralNumbers(js)
	doc = new(gltf.Document)
	if err := json.Unmarshal(js, doc); err != nil {
		return nil, nil, fmt.Errorf("%w: glTF JSON: %s", ErrDecode, jsonError(err))
	}
	if err := checkEnums(js); err != nil {
		return nil, nil, err
	}
	if v := doc.Asset.Version; !strings.HasPrefix(v, "2.") {
		return nil, nil, fmt.Errorf("%w: asset.version %q: only glTF 2.x is supported", ErrUnsupported, clip(v))
	}
	for i, e := range doc.ExtensionsRequired {
		if !supportedGLTFExtensions[e] {
			return nil, nil, fmt.Errorf("%w: extensionsRequired[%d]: extension %s", ErrUnsupported, i, clip(e))
		}
	}
	return doc, bin, nil
}

// jsonError says what is wrong with a JSON document and where, without
// quoting it.
func jsonError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		// "number 1.5" where an integer is expected (1.0 was made 1
		// before decoding: integralNumbers).
		return fmt.Sprintf("%s: %s where %v is expected (at byte %d)", typ.Field, clip(typ.Value), typ.Type, typ.Offset)
	}
	return clip(err.Error())
}

// checkEnums refuses the enumeration values the library maps silently to
// its zero values (an unknown componentType would read as FLOAT, an unknown
// mode as TRIANGLES).
func checkEnums(js []byte) error {
	var raw struct {
		Accessors []struct {
			ComponentType *uint32 `json:"componentType"`
			Sparse        *struct {
				Indices struct {
					ComponentType *uint32 `json:"componentType"`
				} `json:"indices"`
			} `json:"sparse"`
		} `json:"accessors"`
		Meshes []struct {
			Primitives []struct {
				Mode *uint32 `json:"mode"`
			} `json:"primitives"`
		} `json:"meshes"`
	}
	if err := json.Unmarshal(js, &raw); err != nil {
		return fmt.Errorf("%w: glTF JSON: %s", ErrDecode, jsonError(err))
	}
	for i, a := range raw.Accessors {
		switch {
		case a.ComponentType == nil:
			return fmt.Errorf("%w: accessors[%d].componentType: missing", ErrDecode, i)
		case !validComponentType(*a.ComponentType):
			return fmt.Errorf("%w: accessors[%d].componentType: %d is not a glTF component type", ErrDecode, i, *a.ComponentType)
		case a.Sparse != nil && a.Sparse.Indices.ComponentType == nil:
			return fmt.Errorf("%w: accessors[%d].sparse.indices.componentType: missing", ErrDecode, i)
		case a.Sparse != nil && !validComponentType(*a.Sparse.Indices.ComponentType):
			return fmt.Errorf("%w: accessors[%d].sparse.indices.componentType: %d is not a glTF component type", ErrDecode, i, *a.Sparse.Indices.ComponentType)
		}
	}
	for i, m := range raw.Meshes {
		for j, p := range m.Primitives {
			if p.Mode != nil && *p.Mode > 6 {
				return fmt.Errorf("%w: meshes[%d].primitives[%d].mode: %d is not a glTF primitive mode", ErrDecode, i, j, *p.Mode)
			}
		}
	}
	return nil
}

func validComponentType(c uint32) bool {
	return c >= 5120 && c <= 5126 && c != 5124
}

// clip shortens what a document says (a name, a URI) for an error message.
func clip(s string) string {
	const n = 64
	if strings.HasPrefix(s, "data:") {
		mime, _, _ := strings.Cut(s, ",")
		return fmt.Sprintf("%.40s… (a data URI of %d bytes)", mime, len(s))
	}
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// dataURI splits a data URI into its media type and decoded bytes; it
// refuses one that is not base64, or that would decode to more than
// maxBytes. The errors never quote the payload.
func dataURI(uri string, maxBytes int64) (mime string, data []byte, err error) {
	head, payload, ok := strings.Cut(strings.TrimPrefix(uri, "data:"), ",")
	if !ok {
		return "", nil, fmt.Errorf("a data URI without ',' (%d bytes)", len(uri))
	}
	mime, isBase64 := strings.CutSuffix(head, ";base64")
	if !isBase64 {
		return mime, nil, fmt.Errorf("a data URI of type %s that is not base64", clip(mime))
	}
	if n := int64(base64.StdEncoding.DecodedLen(len(payload))); n > maxBytes {
		return mime, nil, fmt.Errorf("%w: a data URI of %d bytes of base64, the limit is %d (Options.MaxImageBytes)", ErrTooLarge, len(payload), maxBytes)
	}
	data, err = base64.StdEncoding.DecodeString(payload)
	if err != nil {
		var c base64.CorruptInputError
		if errors.As(err, &c) {
			return mime, nil, fmt.Errorf("a data URI's base64 is corrupt at byte %d of %d", int64(c), len(payload))
		}
		return mime, nil, fmt.Errorf("a data URI's base64 is corrupt")
	}
	return mime, data, nil
}

// resolveURI turns a glTF URI of a file (relative to the glTF file in dir)
// into a path of the bundle, or says why it cannot: another scheme, an
// absolute path, or a path that leaves the bundle.
func resolveURI(dir, uri, field string) (string, error) {
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" {
		return "", fmt.Errorf("%w: %s %q: only relative paths and data URIs are supported", ErrUnsupported, field, clip(uri))
	}
	p, err := url.PathUnescape(uri)
	if err != nil {
		return "", fmt.Errorf("%w: %s %q: bad percent-encoding", ErrDecode, field, clip(uri))
	}
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", fmt.Errorf("%w: %s %q: not a relative path (a bundle's files are named relative to the glTF file)", ErrDecode, field, clip(uri))
	}
	full := path.Join(dir, p)
	if !fs.ValidPath(full) || full == "." {
		return "", fmt.Errorf("%w: %s %q: leaves the bundle", ErrDecode, field, clip(uri))
	}
	return full, nil
}

// readBuffers fills every buffer's Data: the first from a GLB's BIN chunk
// when it has no URI, others from data URIs or the bundle's files. Each
// byteLength is checked against maxBytes before anything is allocated.
func (l *sceneLoader) readBuffers(ctx context.Context, bin []byte, isGLB bool) error {
	maxBytes := l.m.opts.MaxImageBytes
	for i, b := range l.doc.Buffers {
		at := fmt.Sprintf("buffers[%d]", i)
		switch {
		case b == nil:
			return fmt.Errorf("%w: %s: null", ErrDecode, at)
		case b.ByteLength <= 0:
			return fmt.Errorf("%w: %s.byteLength: %d", ErrDecode, at, b.ByteLength)
		case int64(b.ByteLength) > maxBytes:
			return fmt.Errorf("%w: %s.byteLength: %d bytes, the limit is %d (Options.MaxImageBytes)", ErrTooLarge, at, b.ByteLength, maxBytes)
		}
		var data []byte
		switch {
		case b.URI == "" && i == 0 && isGLB:
			if bin == nil {
				return fmt.Errorf("%w: %s: no uri, and the GLB has no BIN chunk", ErrDecode, at)
			}
			data = bin
		case b.URI == "":
			return fmt.Errorf("%w: %s: no uri (only a GLB's first buffer may have none)", ErrDecode, at)
		case strings.HasPrefix(b.URI, "data:"):
			mime, d, err := dataURI(b.URI, maxBytes)
			if err != nil {
				return fmt.Errorf("%w: %s.uri: %w", ErrDecode, at, err)
			}
			if mime != "application/octet-stream" && mime != "application/gltf-buffer" {
				return fmt.Errorf("%w: %s.uri: a data URI of type %s, not application/octet-stream or application/gltf-buffer", ErrDecode, at, clip(mime))
			}
			data = d
		default:
			p, err := resolveURI(l.dir, b.URI, at+".uri")
			if err != nil {
				return err
			}
			if data, err = l.readFile(ctx, p, int64(b.ByteLength)); err != nil {
				return fmt.Errorf("%s.uri: %w", at, err)
			}
		}
		if len(data) < b.ByteLength {
			return fmt.Errorf("%w: %s: byteLength %d, the data has %d bytes", ErrDecode, at, b.ByteLength, len(data))
		}
		b.Data = data[:b.ByteLength:b.ByteLength]
	}
	return nil
}

// readFile reads at most n bytes of a bundle's file.
func (l *sceneLoader) readFile(ctx context.Context, p string, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := l.b.fsys.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(ctxReader{ctx: ctx, r: f}, n)); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return buf.Bytes(), nil
}
