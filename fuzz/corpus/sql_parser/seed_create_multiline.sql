CREATE API TOKEN ci_pipeline
MAX DURATION '30d'
COMMENT 'Токен для сборочного конвейера';