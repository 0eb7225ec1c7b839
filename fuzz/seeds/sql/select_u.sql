SELECT k, k2, s || 'x', d * 2, f, bo, dt, CASE WHEN i > 0 THEN y ELSE 0 END FROM u
