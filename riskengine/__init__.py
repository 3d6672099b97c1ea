"""riskengine: incident reports to explained risk scores on named road segments."""

__version__ = "0.1.0"
