#version 450
// One shader for sprites and meshes. The vertex inputs are assets.Vertex,
// locations as assets.VertexAttributes numbers them; the push constants
// are a transform, a texture-coordinate scale and offset (a sprite frame's
// rectangle), a colour factor and which UV set the base colour reads.
layout(push_constant) uniform Push {
    mat4 mvp;
    vec4 uvScaleOffset;
    vec4 color;
    uint uvSet;
    uint alphaMode; // 0 opaque, 1 mask, 2 blend
    float alphaCutoff;
} pc;

layout(location = 0) in vec3 inPos;
layout(location = 1) in vec3 inNormal;
layout(location = 2) in vec4 inTangent;
layout(location = 3) in vec2 inUV0;
layout(location = 4) in vec2 inUV1;
layout(location = 5) in vec4 inColor;

layout(location = 0) out vec2 uv;
layout(location = 1) out vec4 color;

void main() {
    gl_Position = pc.mvp * vec4(inPos, 1.0);
    gl_PointSize = 1.0; // what a point list draws
    vec2 t = pc.uvSet == 1u ? inUV1 : inUV0;
    uv = t * pc.uvScaleOffset.xy + pc.uvScaleOffset.zw;
    color = inColor;
}
