package inspector

import (
	"cmp"
	"errors"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/vkassets/vkassets/assets"
)

// Graph is the neighbourhood of an asset: its dependencies and its
// dependents to a depth, laid out in layers (dependents above, negative;
// dependencies below, positive), with the cycles among them marked.
type Graph struct {
	Frame uint64      `json:"frame"`
	Root  assets.ID   `json:"root"`
	Depth int         `json:"depth"`
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
	// Cycles are the strongly connected components of more than one asset
	// (or an asset depending on itself) that reach the neighbourhood.
	Cycles [][]assets.ID `json:"cycles"`
	// Omitted counts assets left out of layers wider than maxLayer.
	Omitted int `json:"omitted,omitempty"`
}

// GraphNode is an asset of a Graph.
type GraphNode struct {
	Ref
	State  string  `json:"state"`
	Count  int     `json:"count"`
	Locked bool    `json:"locked,omitempty"`
	Layer  int     `json:"layer"`
	Cycle  int     `json:"cycle"` // 1 + its index in Cycles; 0: in none
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
}

// GraphEdge is a dependency: From depends on To.
type GraphEdge struct {
	From  assets.ID `json:"from"`
	To    assets.ID `json:"to"`
	Cycle bool      `json:"cycle,omitempty"` // both ends in one cycle
}

const (
	maxDepth = 4
	maxLayer = 40
	nodeW    = 170
	nodeH    = 34
	gapX     = 20
	gapY     = 60
)

func (h *Handler) graph(r *http.Request) (Graph, error) {
	root, err := h.assetOf(r)
	if err != nil {
		return Graph{}, err
	}
	depth := 2
	if d := r.FormValue("depth"); d != "" {
		if depth, err = strconv.Atoi(d); err != nil || depth < 0 || depth > maxDepth {
			return Graph{}, fmt.Errorf("%w: depth is 0 to %d", errBadRequest, maxDepth)
		}
	}
	return h.neighbourhood(h.index(), root, depth), nil
}

func (h *Handler) neighbourhood(ix *index, root assets.Asset, depth int) Graph {
	rid := assets.BaseOf(root).ID()
	g := Graph{Frame: h.frame(), Root: rid, Depth: depth, Nodes: []GraphNode{}, Edges: []GraphEdge{}, Cycles: [][]assets.ID{}}
	layer := map[assets.ID]int{rid: 0}
	byID := map[assets.ID]assets.Asset{rid: root}
	walk := func(dir int, next func(assets.Asset) []assets.Asset) {
		// Each direction walks through what the other reached (a cycle
		// reaches both ways); a node keeps the first layer it was given.
		front, seen := []assets.Asset{root}, map[assets.ID]bool{rid: true}
		for d := 1; d <= depth; d++ {
			var out []assets.Asset
			for _, x := range front {
				for _, y := range next(x) {
					id := assets.BaseOf(y).ID()
					if seen[id] {
						continue
					}
					seen[id] = true
					out = append(out, y)
					if _, ok := layer[id]; !ok {
						layer[id], byID[id] = dir*d, y
					}
				}
			}
			front = out
		}
	}
	walk(1, func(a assets.Asset) []assets.Asset { return assets.BaseOf(a).Deps() })
	walk(-1, func(a assets.Asset) []assets.Asset { return ix.holders[assets.BaseOf(a).ID()] })

	comp := components(ix.all)
	cycleOf := map[int]int{} // component → 1 + index in g.Cycles
	layers := map[int][]GraphNode{}
	for id, a := range byID {
		b := assets.BaseOf(a)
		n := GraphNode{Ref: refOf(a), State: b.State().String(), Count: b.RefCount(), Locked: h.opts.Manager.IsLocked(a), Layer: layer[id]}
		if c, ok := comp.cyclic(id); ok {
			if cycleOf[c] == 0 {
				g.Cycles = append(g.Cycles, comp.members[c])
				cycleOf[c] = len(g.Cycles)
			}
			n.Cycle = cycleOf[c]
		}
		layers[n.Layer] = append(layers[n.Layer], n)
	}
	keep := map[assets.ID]bool{}
	for l := -depth; l <= depth; l++ {
		ns := layers[l]
		slices.SortFunc(ns, func(a, b GraphNode) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
		})
		if len(ns) > maxLayer {
			g.Omitted += len(ns) - maxLayer
			ns = ns[:maxLayer]
		}
		for i := range ns {
			ns[i].X = float64(i*(nodeW+gapX)) - float64(len(ns)*(nodeW+gapX)-gapX)/2
			ns[i].Y = float64((l + depth) * (nodeH + gapY))
			keep[ns[i].ID] = true
		}
		g.Nodes = append(g.Nodes, ns...)
	}
	for _, n := range g.Nodes {
		for _, d := range assets.BaseOf(byID[n.ID]).Deps() {
			to := assets.BaseOf(d).ID()
			if keep[to] {
				c1, ok1 := comp.cyclic(n.ID)
				c2, ok2 := comp.cyclic(to)
				g.Edges = append(g.Edges, GraphEdge{From: n.ID, To: to, Cycle: ok1 && ok2 && c1 == c2})
			}
		}
	}
	return g
}

// sccs are the strongly connected components of the dependency graph.
type sccs struct {
	of      map[assets.ID]int
	members [][]assets.ID
	self    map[assets.ID]bool // depends on itself
}

// cyclic reports the component of id when it is a cycle.
func (s *sccs) cyclic(id assets.ID) (int, bool) {
	c, ok := s.of[id]
	if !ok || (len(s.members[c]) < 2 && !s.self[id]) {
		return 0, false
	}
	return c, true
}

// components runs Tarjan's algorithm, iteratively (a long chain of
// dependencies must not overflow a stack), over the cached assets.
func components(all []assets.Asset) *sccs {
	s := &sccs{of: map[assets.ID]int{}, self: map[assets.ID]bool{}}
	index := map[assets.ID]int{}
	low := map[assets.ID]int{}
	on := map[assets.ID]bool{}
	var stack []assets.ID
	type frame struct {
		a    assets.Asset
		id   assets.ID
		next int
	}
	n := 0
	for _, start := range all {
		if _, seen := index[assets.BaseOf(start).ID()]; seen {
			continue
		}
		push := func(a assets.Asset) frame {
			id := assets.BaseOf(a).ID()
			index[id], low[id] = n, n
			n++
			stack = append(stack, id)
			on[id] = true
			return frame{a: a, id: id}
		}
		call := []frame{push(start)}
		for len(call) > 0 {
			f := &call[len(call)-1]
			deps := assets.BaseOf(f.a).Deps()
			if f.next < len(deps) {
				d := deps[f.next]
				f.next++
				did := assets.BaseOf(d).ID()
				if did == f.id {
					s.self[did] = true
				}
				if _, seen := index[did]; !seen {
					call = append(call, push(d))
				} else if on[did] {
					low[f.id] = min(low[f.id], index[did])
				}
				continue
			}
			if low[f.id] == index[f.id] {
				c := len(s.members)
				var m []assets.ID
				for {
					top := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					on[top] = false
					s.of[top] = c
					m = append(m, top)
					if top == f.id {
						break
					}
				}
				slices.Sort(m)
				s.members = append(s.members, m)
			}
			id := f.id
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := &call[len(call)-1]
				low[p.id] = min(low[p.id], low[id])
			}
		}
	}
	return s
}

func (h *Handler) serveGraph(r *http.Request) (any, error) { return h.graph(r) }

// serveGraphSVG draws /graph/{id}.svg.
func (h *Handler) serveGraphSVG(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("id"), ".svg")
	if !ok {
		http.NotFound(w, r)
		return
	}
	r.SetPathValue("id", id)
	g, err := h.graph(r)
	if err != nil {
		status := http.StatusNotFound
		if errors.Is(err, errBadRequest) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(g.SVG()))
}

// kindColours fill the nodes (and the memory map's ranges, in the page).
var kindColours = map[string]string{
	"sprite": "#8ecae6", "texture": "#ffb703", "image": "#b5e48c", "scene": "#cdb4db",
	"mesh": "#f4a261", "material": "#e9c46a", "buffer": "#90be6d",
}

// SVG draws the graph: boxes by layer, arrows from dependents to
// dependencies, cycles in red.
func (g Graph) SVG() string {
	minX, maxX, maxY := 0.0, 0.0, 0.0
	for _, n := range g.Nodes {
		minX, maxX, maxY = min(minX, n.X), max(maxX, n.X+nodeW), max(maxY, n.Y+nodeH)
	}
	const pad = 20
	w, hgt := maxX-minX+2*pad, maxY+2*pad
	ox, oy := pad-minX, float64(pad)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, w, hgt, w, hgt)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker>` +
		`<marker id="arrow-cycle" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#d00"/></marker></defs>`)
	at := map[assets.ID]GraphNode{}
	for _, n := range g.Nodes {
		at[n.ID] = n
	}
	for _, e := range g.Edges {
		f, t := at[e.From], at[e.To]
		x1, y1, x2, y2 := f.X+ox+nodeW/2, f.Y+oy+nodeH, t.X+ox+nodeW/2, t.Y+oy
		if t.Y <= f.Y { // an edge going up or sideways: a cycle's back edge
			y1, y2 = f.Y+oy, t.Y+oy+nodeH
		}
		colour, marker := "#555", "arrow"
		if e.Cycle {
			colour, marker = "#d00", "arrow-cycle"
		}
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="1.2" marker-end="url(#%s)"/>`, x1, y1, x2, y2, colour, marker)
	}
	for _, n := range g.Nodes {
		fill := kindColours[n.Kind]
		if fill == "" {
			fill = "#ddd"
		}
		stroke, sw := "#333", 1.0
		if n.Cycle > 0 {
			stroke, sw = "#d00", 2.5
		}
		if n.ID == g.Root {
			sw += 1.5
		}
		label := n.Name
		if len(label) > 26 {
			label = "…" + label[len(label)-25:]
		}
		lock := ""
		if n.Locked {
			lock = " 🔒"
		}
		fmt.Fprintf(&b, `<g class="node" data-id="%d"><title>%s #%d %s: %s, count %d%s</title>`, n.ID, n.Kind, n.ID, html.EscapeString(n.Name), n.State, n.Count, cycleNote(n))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%d" height="%d" rx="4" fill="%s" stroke="%s" stroke-width="%.1f"/>`, n.X+ox, n.Y+oy, nodeW, nodeH, fill, stroke, sw)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s #%d · %d%s</text>`, n.X+ox+5, n.Y+oy+13, n.Kind, n.ID, n.Count, lock)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text></g>`, n.X+ox+5, n.Y+oy+27, html.EscapeString(label))
	}
	if g.Omitted > 0 {
		fmt.Fprintf(&b, `<text x="4" y="%.0f" fill="#a00">%d more not shown</text>`, hgt-4, g.Omitted)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func cycleNote(n GraphNode) string {
	if n.Cycle == 0 {
		return ""
	}
	return fmt.Sprintf(", in cycle %d", n.Cycle)
}
