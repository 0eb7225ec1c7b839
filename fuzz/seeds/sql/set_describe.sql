SET 'parallelism.default' = '3';
DESCRIBE u;
