#version 450
// A mesh of assets.Vertex, drawn at half size in the middle of the target.
layout(location = 0) in vec3 inPos;
layout(location = 3) in vec2 inUV;
layout(location = 0) out vec2 uv;

void main() {
    gl_Position = vec4(inPos.xy * 0.5, 0.0, 1.0);
    uv = inUV;
}
