"""The Streamlit UI: thin views over ragcore."""
