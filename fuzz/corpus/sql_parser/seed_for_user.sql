CREATE API TOKEN report_bot FOR USER analyst MAX DURATION '90d' COMMENT 'Сервисный токен для выгрузки отчетов';
SHOW API TOKENS FOR USER analyst;
DROP API TOKEN report_bot FOR USER analyst;