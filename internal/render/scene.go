package render

import (
	"fmt"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
)

// DrawScene draws every mesh of s's node trees, each under viewProj times
// its node's world transform (its ancestors' and its own Local), as DrawMesh does. A root or child index out
// of range, or a node reached twice on one path (a cycle), is refused
// with an error naming the node; what was recorded before stays recorded.
func (r *Renderer) DrawScene(f *framesync.Frame, s *assets.Scene, viewProj Mat4, tint [4]float32) error {
	if s == nil {
		return fmt.Errorf("render: draw scene: %w", errNil)
	}
	onPath := make([]bool, len(s.Nodes))
	var walk func(i int, parent Mat4, where string) error
	walk = func(i int, parent Mat4, where string) error {
		if i < 0 || i >= len(s.Nodes) {
			return fmt.Errorf("render: scene %v: %s: node %d out of range (%d nodes)", &s.Base, where, i, len(s.Nodes))
		}
		if onPath[i] {
			return fmt.Errorf("render: scene %v: %s: node %d is its own ancestor", &s.Base, where, i)
		}
		onPath[i] = true
		defer func() { onPath[i] = false }()
		n := &s.Nodes[i]
		var local Mat4
		for k, v := range n.Local {
			local[k] = float32(v)
		}
		world := parent.Mul(local)
		if n.Mesh != nil {
			if err := r.DrawMesh(f, n.Mesh, viewProj.Mul(world), tint); err != nil {
				return fmt.Errorf("nodes[%d]: %w", i, err)
			}
		}
		for _, c := range n.Children {
			if err := walk(c, world, fmt.Sprintf("nodes[%d].children", i)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, root := range s.Roots {
		if err := walk(root, Identity(), "scene roots"); err != nil {
			return err
		}
	}
	return nil
}
