# The house style (shop/formats.py): every date shows its year, in one format, with a 24-hour time.
DATE_FORMAT = "j M Y"  # 1 Oct 2011
SHORT_DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"  # 1 Oct 2011 14:05
SHORT_DATETIME_FORMAT = "j M Y H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j M Y"  # the date hierarchy's days keep their year too
YEAR_MONTH_FORMAT = "M Y"
FIRST_DAY_OF_WEEK = 1
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
