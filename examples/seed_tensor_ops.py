"""The tensor operations of seed note 003 §6 (listed there with TensorFlow names), in ember.

Each line shows the TensorFlow call from the note and the ember call that does the same,
under PyTorch's name or the array API's. Run: python examples/seed_tensor_ops.py
"""

import ember

ember.manual_seed(0)

# --- creation: tf.constant, tf.Variable, tf.zeros, tf.ones, tf.random.normal
c = ember.tensor([[1.0, 2.0], [3.0, 4.0]])                 # tf.constant
v = ember.nn.Parameter(ember.tensor([0.5, -0.5]))           # tf.Variable (trainable)
z = ember.zeros(2, 3)                                       # tf.zeros
o = ember.ones(2, 3)                                        # tf.ones
r = ember.normal(0.0, 1.0, (2, 3))                          # tf.random.normal
print("created:", c.shape, v.shape, z.shape, o.shape, r.shape)

# --- transformation: tf.cast, tf.reshape, tf.transpose, tf.expand_dims, tf.squeeze
i = ember.astype(c, ember.int32)                            # tf.cast
flat = ember.reshape(c, (4,))                               # tf.reshape
ct = ember.transpose(c)                                     # tf.transpose (2-d)
e = ember.expand_dims(c, axis=0)                            # tf.expand_dims
s = ember.squeeze(e, 0)                                     # tf.squeeze
print("cast:", i.dtype, "reshape:", flat.tolist(), "transpose:", ct.tolist())
print("expand_dims:", e.shape, "squeeze:", s.shape)

# --- matrices: tf.matmul, tf.linalg.inv, tf.linalg.solve, tf.linalg.eig, tf.linalg.svd
m = ember.tensor([[4.0, 1.0], [2.0, 3.0]], dtype=ember.float64)
b = ember.tensor([[1.0], [2.0]], dtype=ember.float64)
prod = ember.matmul(m, m)                                   # tf.matmul
inv = ember.linalg.inv(m)                                   # tf.linalg.inv
x = ember.linalg.solve(m, b)                                # tf.linalg.solve
eigvals, eigvecs = ember.linalg.eig(m)                      # tf.linalg.eig (real here: 2, 5)
u, sv, vh = ember.linalg.svd(m)                             # tf.linalg.svd
print("matmul:", prod.tolist())
print("inv @ m:", ember.matmul(inv, m).round(decimals=6).tolist())
print("solve:", x.flatten().round(decimals=6).tolist())
print("eig values:", sorted(round(float(ev), 6) for ev in eigvals.tolist()))
print("svd rebuilds m:", bool(ember.allclose(u @ ember.diag(sv) @ vh, m)))

# --- math: tf.add_n, abs, negative, sign, sqrt, log, exp, square, round, pow, cos
a = ember.tensor([-2.25, 0.5, 4.0], dtype=ember.float64)
print("add_n:", ember.add_n([a, a, a]).tolist())
print("abs:", ember.abs(a).tolist(), "negative:", ember.negative(a).tolist())
print("sign:", ember.sign(a).tolist(), "sqrt:", ember.sqrt(ember.abs(a)).tolist())
print("log:", ember.log(ember.abs(a)).round(decimals=4).tolist())
print("exp:", ember.exp(a).round(decimals=4).tolist())
print("square:", ember.square(a).tolist(), "round:", ember.round(a).tolist())
print("pow:", ember.pow(a, 2).tolist(), "cos:", ember.cos(a).round(decimals=4).tolist())

# --- joining and splitting: tf.concat, tf.split
joined = ember.concat([z, o], axis=0)                       # tf.concat
first, second = ember.chunk(joined, 2, dim=0)               # tf.split(x, 2)
pieces = ember.split(joined, [1, 3], dim=0)                 # tf.split(x, [1, 3])
print("concat:", joined.shape, "split:", first.shape, second.shape, [p.shape for p in pieces])

# --- the seed's padding table: constant, reflect, symmetric
row = ember.tensor([[1.0, 2.0, 3.0]])
print("constant: ", ember.pad(row, (2, 2), mode="constant", value=0.0).tolist())
print("reflect:  ", ember.pad(row, (2, 2), mode="reflect").tolist())
print("symmetric:", ember.pad(row, (2, 2), mode="symmetric").tolist())

# --- and everything above is differentiable
w = ember.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=ember.float64, requires_grad=True)
loss = ember.linalg.inv(w).sum() + ember.pad(w, (1, 1), mode="symmetric").square().sum()
loss.backward()
print("gradient through inv and symmetric pad:", w.grad.round(decimals=4).tolist())
